"""The ETL job stage: SQL-only transforms over catalog tables, run in DuckDB."""
