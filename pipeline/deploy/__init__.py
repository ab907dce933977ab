"""Deploying the pipeline to AWS (or LocalStack), and removing it again.

``plan`` (pure) names every resource, writes the IAM policy documents and lists the API calls of
a deploy or a destroy as frozen records; ``executor`` makes those calls through boto3 clients
built from the settings; ``cloudformation`` writes the same deployment as a template;
``artifacts`` gets the Lambda zip and the Glue jobs' files ready; ``glue_records`` is the body of
the Glue job that writes the run records ``csvpipe run`` follows on AWS; ``exceptions`` holds
the errors.
"""
