"""The crawler stage: infer the schema of processed data and register it in the Glue catalog.

infer       pure: value kinds, column types, header detection, files merged into one table
partitions  pure: key=value (or, as AWS does, any) folders to partition keys
plan        pure: TableInput, schema evolution under the policy, partitions, the plan record
options     the crawler's settings, checked
crawler     I/O: read the files, call the Glue API (create/update table, batch partitions)
"""
