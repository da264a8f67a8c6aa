"""Logger, metrics and tracer of the service, one of each per container.

Configured by the POWERTOOLS_* variables that template.yaml sets in Globals.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
tracer = Tracer()
