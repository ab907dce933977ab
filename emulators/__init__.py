"""Local stand-ins for AWS: the embedded emulator (moto server), the Lambda runtime, the S3 ->
SQS -> Lambda event source, the Glue crawler/job runner, and the supervisor that runs them."""
