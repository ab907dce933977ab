"""The same transforms on Spark: the AWS Glue 5.0 job (Spark 3.5) that runs the SQL the local
DuckDB job runs.

``transpile`` (pure) translates each transform's DuckDB SQL to Spark SQL with sqlglot and names
what will not port; ``glue_script`` (pure planning, then writing files) generates the Glue job
from the transform plan; ``glue_runtime`` is the job's program, copied into the generated
script (it imports pyspark, so nothing here imports it); ``functions`` lists Spark's built-in
functions, so the check needs no Spark.
"""

from pipeline.spark.exceptions import NotPortable
from pipeline.spark.glue_script import GlueJobPlan, plan_glue_job, write_glue_job
from pipeline.spark.transpile import Check, check, check_all, report_lines, translate

__all__ = [
    "Check",
    "GlueJobPlan",
    "NotPortable",
    "check",
    "check_all",
    "plan_glue_job",
    "report_lines",
    "translate",
    "write_glue_job",
]
