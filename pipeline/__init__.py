"""csvpipe: an AWS CSV pipeline (S3 -> Lambda -> Glue -> QuickSight) you can run on a laptop.

The package holds the product: settings, the one place AWS clients are built, one room per
pipeline stage (ingest, preprocess, catalog, transform, publish) and the CLI.
"""

__version__ = "0.1.0"
