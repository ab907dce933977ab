"""Deployment packages: the preprocessing Lambda as a zip for the Lambda Python runtime.

``lambda_zip`` is the pure part (what goes in, for which target, names, limits), ``installed``
reads the distributions installed in this Python environment, ``build`` does the I/O (pip, files,
the zip) and ``exceptions`` holds the stage's error.
"""
