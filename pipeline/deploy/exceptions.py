"""Errors of deploying and destroying: one line naming the step, what AWS said and what to do.

CsvpipeError
└── DeployError              deploy, destroy or export cannot go on
    ├── CredentialsError     no AWS credentials, or AWS refuses them (terminal)
    ├── StepFailed           one API call of the plan failed; retryable when AWS's error is
    │                        transient (throttling, a service error), terminal otherwise
    └── WaitTimedOut         a resource did not become ready in time (retryable: deploy again)
"""

from __future__ import annotations

from pipeline.errors import CsvpipeError


class DeployError(CsvpipeError):
    """Deploying, destroying or exporting cannot go on."""


class CredentialsError(DeployError):
    """No credentials were found in the standard AWS chain, or AWS refused them."""


class StepFailed(DeployError):
    """An API call of the plan failed; the message names the step and AWS's error code."""


class WaitTimedOut(DeployError):
    """A resource did not reach the state the next step needs within its deadline."""

    retryable = True
