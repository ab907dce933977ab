"""The preprocessing stage: the Lambda that cleans a raw CSV into the processed bucket."""
