"""The ingest stage: getting CSV files into the raw bucket (upload; the watched folder later)."""
