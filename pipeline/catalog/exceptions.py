"""Errors of the crawler stage (see pipeline.errors for the whole tree)."""

from pipeline.errors import CatalogError


class NoData(CatalogError):
    """The dataset has no processed objects to crawl."""
