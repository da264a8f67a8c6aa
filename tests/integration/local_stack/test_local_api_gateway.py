"""The API Gateway emulation over real HTTP, with a tiny echo function behind it."""

from __future__ import annotations

import base64
import http.client
import json
from typing import TYPE_CHECKING, Any

import pytest

from contactsync_ops.local_stack.api_gateway import ApiGatewayServer
from contactsync_ops.local_stack.endpoints import LocalEndpoints
from contactsync_ops.local_stack.lambda_runtime import LambdaRuntime
from contactsync_ops.local_stack.template_model import load_local_template

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

TEMPLATE = """
Globals:
  Function:
    Runtime: python3.13
    Timeout: 2
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: test
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: echo/
      Handler: app.lambda_handler
      Events:
        Contacts:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: "/v1/sources/{source_id}/contacts", Method: post}
        Crash: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /crash, Method: get}}
        Malformed: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /malformed, Method: get}}
        Binary: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /binary, Method: get}}
        Slow: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /slow, Method: get}}
"""

ECHO = """
import base64, json, time

def lambda_handler(event, context):
    resource = event["resource"]
    if resource == "/crash":
        raise ValueError("handler crashed")
    if resource == "/malformed":
        return {"status": 200}
    if resource == "/binary":
        return {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
                "body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True}
    if resource == "/slow":
        time.sleep(5)
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"X-Echo": ["one", "two"]},
        "body": json.dumps({"event": event, "function": context.function_name}),
    }
"""


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("api")
    (root / "echo").mkdir()
    (root / "echo" / "app.py").write_text(ECHO)
    (root / "template.yaml").write_text(TEMPLATE)
    template = load_local_template(root / "template.yaml", stack_name="apitest")
    endpoints = LocalEndpoints("http://127.0.0.1:9", "http://127.0.0.1:9")  # the echo function calls no AWS
    with LambdaRuntime(template.functions, endpoints=endpoints) as runtime:
        server = ApiGatewayServer(template.functions, runtime, port=0)
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


def call(
    api_url: str, method: str, target: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    host_port = api_url.removeprefix("http://")
    connection = http.client.HTTPConnection(host_port, timeout=30)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def echoed_event(body: bytes) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(body)["event"]
    return event


def test_path_query_headers_and_body_reach_the_function(api_url: str) -> None:
    # Given a POST with a path parameter, repeated query parameters, a header and a JSON body
    status, headers, body = call(
        api_url, "POST", "/v1/sources/shop-1/contacts?dry_run=true&tag=a&tag=b",
        body=b'{"email": "ada@example.com"}',
        headers={"Content-Type": "application/json", "Authorization": "Bearer t0ken"},
    )  # fmt: skip
    # Then the function's response comes back with its status and headers
    assert status == 201
    assert headers.get_all("X-Echo") == ["one", "two"]
    # And the function got the proxy event with everything in place
    event = echoed_event(body)
    assert event["pathParameters"] == {"source_id": "shop-1"}
    assert event["queryStringParameters"] == {"dry_run": "true", "tag": "b"}
    assert event["multiValueQueryStringParameters"]["tag"] == ["a", "b"]
    assert event["headers"]["Authorization"] == "Bearer t0ken"
    assert event["body"] == '{"email": "ada@example.com"}'
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["stage"] == "test"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert json.loads(body)["function"] == "apitest-Echo"


def test_binary_request_body_arrives_base64_encoded(api_url: str) -> None:
    payload = bytes(range(256))
    status, _, body = call(api_url, "POST", "/v1/sources/s/contacts", body=payload,
                           headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert status == 201
    event = echoed_event(body)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_base64_response_body_is_decoded(api_url: str) -> None:
    status, headers, body = call(api_url, "GET", "/binary")
    assert status == 200
    assert headers["Content-Type"] == "application/octet-stream"
    assert body == bytes(range(256))


@pytest.mark.parametrize(("method", "target"), [("GET", "/nope"), ("GET", "/v1/sources/s/contacts")])
def test_unknown_routes_and_methods_get_403(api_url: str, method: str, target: str) -> None:
    status, _, body = call(api_url, method, target)
    assert status == 403
    assert json.loads(body) == {"message": "Missing Authentication Token"}


@pytest.mark.parametrize("target", ["/crash", "/malformed", "/slow"])
def test_crash_bad_response_and_timeout_give_502(api_url: str, target: str) -> None:
    status, _, body = call(api_url, "GET", target)
    assert status == 502
    assert json.loads(body) == {"message": "Internal server error"}


def test_the_worker_survives_a_crash(api_url: str) -> None:
    call(api_url, "GET", "/crash")
    status, _, _ = call(api_url, "POST", "/v1/sources/s/contacts", body=b"{}")
    assert status == 201


def test_bodies_over_10_mb_get_413(api_url: str) -> None:
    host_port = api_url.removeprefix("http://")
    connection = http.client.HTTPConnection(host_port, timeout=10)
    try:
        connection.putrequest("POST", "/v1/sources/s/contacts")
        connection.putheader("Content-Length", str(10 * 1024 * 1024 + 1))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
    finally:
        connection.close()
