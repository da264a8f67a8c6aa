"""The gateway's ceiling: a handler that only answers 202, run by the same local gateway and workers."""

from typing import Any

BODY = '{"accepted": 1, "rejected": 0, "results": []}'


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 202, "headers": {"Content-Type": "application/json"}, "body": BODY}
