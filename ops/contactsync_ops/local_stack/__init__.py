"""The project's own local runner: template.yaml played without Docker and without AWS.

DynamoDB Local stands in for DynamoDB, moto's server for SQS, S3, SES and Secrets Manager,
and small emulators in this package for API Gateway, EventBridge schedules, the SQS event
source mapping and the Lambda runtime. Everything is read from template.yaml, once.
"""
