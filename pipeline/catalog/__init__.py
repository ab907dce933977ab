"""The crawler stage: infer the schema of processed data and register it in the Glue catalog."""
