"""The API Gateway emulation's routing, proxy events and proxy responses, without a server."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from contactsync_ops.local_stack.api_gateway import (
    ApiRouter,
    MalformedProxyResponseError,
    RouteMatch,
    build_proxy_event,
    parse_proxy_response,
)
from contactsync_ops.local_stack.template_model import ApiRoute, FunctionSpec


def function_with_routes(logical_id: str, *routes: tuple[str, str]) -> FunctionSpec:
    return FunctionSpec(
        logical_id=logical_id,
        name=f"s-{logical_id}",
        code_dir=Path("/nowhere"),
        handler="app.lambda_handler",
        runtime="python3.13",
        timeout_seconds=3,
        memory_size_mb=128,
        environment={},
        api_routes=tuple(ApiRoute(f"E{i}", path, method, "dev") for i, (method, path) in enumerate(routes)),
    )


@pytest.fixture
def router() -> ApiRouter:
    return ApiRouter(
        {
            "Ingest": function_with_routes("Ingest", ("POST", "/v1/sources/{source_id}/contacts")),
            "OptIn": function_with_routes(
                "OptIn", ("GET", "/v1/confirm/{token}"), ("GET", "/v1/confirm/special")
            ),
            "Files": function_with_routes("Files", ("ANY", "/files/{path+}")),
        }
    )


def test_path_parameters_are_extracted(router: ApiRouter) -> None:
    match = router.match("POST", "/v1/sources/demo/contacts")
    assert match is not None
    assert match.binding.function_logical_id == "Ingest"
    assert match.path_parameters == {"source_id": "demo"}


def test_literal_segments_win_over_parameters(router: ApiRouter) -> None:
    match = router.match("GET", "/v1/confirm/special")
    assert match is not None
    assert match.path_parameters == {}
    assert match.binding.route.path == "/v1/confirm/special"


def test_greedy_parameter_and_any_method(router: ApiRouter) -> None:
    match = router.match("DELETE", "/files/a/b/c.txt")
    assert match is not None
    assert match.path_parameters == {"path": "a/b/c.txt"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/sources/demo/contacts"),
        ("POST", "/v1/nothing"),
        ("GET", "/v1/confirm/"),
        ("GET", "/files"),
    ],
)
def test_unknown_routes_and_wrong_methods_do_not_match(router: ApiRouter, method: str, path: str) -> None:
    assert router.match(method, path) is None


def ingest_match(router: ApiRouter) -> RouteMatch:
    match = router.match("POST", "/v1/sources/demo/contacts")
    assert match is not None
    return match


def test_proxy_event_has_the_rest_api_v1_shape(router: ApiRouter) -> None:
    # Given a POST with repeated query parameters, repeated headers and a JSON body
    headers = [
        ("Host", "127.0.0.1:3000"),
        ("User-Agent", "curl/8"),
        ("Content-Type", "application/json"),
        ("X-Tag", "a"),
        ("X-Tag", "b"),
    ]
    # When the proxy event is built
    event = build_proxy_event(
        method="POST",
        raw_target="/v1/sources/demo/contacts?dry_run=1&tag=x&tag=y%20z",
        headers=headers,
        body=b'{"email": "ada@example.com"}',
        match=ingest_match(router),
        source_ip="127.0.0.1",
        server_port=3000,
        request_id="req-1",
        now=1_700_000_000.5,
    )
    # Then it has the fields Lambda receives from API Gateway (REST, payload 1.0)
    assert set(event) == {
        "resource", "path", "httpMethod", "headers", "multiValueHeaders", "queryStringParameters",
        "multiValueQueryStringParameters", "pathParameters", "stageVariables", "requestContext", "body",
        "isBase64Encoded",
    }  # fmt: skip
    assert event["resource"] == "/v1/sources/{source_id}/contacts"
    assert event["path"] == "/v1/sources/demo/contacts"
    assert event["httpMethod"] == "POST"
    assert event["headers"]["X-Tag"] == "b"
    assert event["multiValueHeaders"]["X-Tag"] == ["a", "b"]
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert event["queryStringParameters"] == {"dry_run": "1", "tag": "y z"}
    assert event["multiValueQueryStringParameters"] == {"dry_run": ["1"], "tag": ["x", "y z"]}
    assert event["pathParameters"] == {"source_id": "demo"}
    assert event["stageVariables"] is None
    assert event["body"] == '{"email": "ada@example.com"}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["requestId"] == "req-1"
    assert context["stage"] == "dev"
    assert context["resourcePath"] == "/v1/sources/{source_id}/contacts"
    assert context["httpMethod"] == "POST"
    assert context["path"] == "/dev/v1/sources/demo/contacts"
    assert context["requestTimeEpoch"] == 1_700_000_000_500
    assert context["requestTime"] == "14/Nov/2023:22:13:20 +0000"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "curl/8"
    assert context["domainName"] == "127.0.0.1:3000"


def test_proxy_event_without_query_or_body_uses_nulls(router: ApiRouter) -> None:
    event = build_proxy_event(
        method="POST", raw_target="/v1/sources/demo/contacts", headers=[], body=b"",
        match=ingest_match(router), source_ip="127.0.0.1", server_port=3000,
    )  # fmt: skip
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("application/octet-stream", b"plain"), ("image/png", b"\x89PNG"), ("text/plain", b"\xff\xfe\x00")],
)
def test_binary_bodies_are_base64_encoded(router: ApiRouter, content_type: str, body: bytes) -> None:
    event = build_proxy_event(
        method="POST", raw_target="/v1/sources/demo/contacts", headers=[("Content-Type", content_type)],
        body=body, match=ingest_match(router), source_ip="127.0.0.1", server_port=3000,
    )  # fmt: skip
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_proxy_response_merges_headers_like_api_gateway() -> None:
    # Given a response with both headers and multiValueHeaders
    response = parse_proxy_response(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "Set-Cookie": "ignored"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": '{"ok": true}',
        }
    )
    # Then multiValueHeaders win for the same name and the rest is kept
    assert response.status == 201
    assert response.headers == [
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("Content-Type", "application/json"),
    ]
    assert response.body == b'{"ok": true}'


def test_proxy_response_base64_body_is_decoded() -> None:
    response = parse_proxy_response({"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(),
                                     "isBase64Encoded": True})  # fmt: skip
    assert response.body == b"\x00\x01"


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "text",
        {"body": "no status"},
        {"statusCode": 99},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "unexpected": 1},
        {"statusCode": 200, "body": "***", "isBase64Encoded": True},
        {"statusCode": 200, "multiValueHeaders": {"X": "not a list"}},
    ],
)
def test_malformed_proxy_responses_are_refused(payload: object) -> None:
    with pytest.raises(MalformedProxyResponseError):
        parse_proxy_response(payload)
