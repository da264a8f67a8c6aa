"""Logger and metrics of the service, one of each per container.

Configured by the POWERTOOLS_* variables that template.yaml sets in Globals.
Tracing is Lambda's own (``Tracing: Active``: a segment per invocation, its
init and its duration); the X-Ray SDK that Powertools' Tracer needs would add
about 130 ms to every cold start (``make bench``) for per-call subsegments.
"""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
