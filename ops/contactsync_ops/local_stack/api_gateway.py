"""API Gateway (REST API, Lambda proxy integration, payload 1.0) in front of the local functions.

Routes are the template's ``Type: Api`` events, served without a stage prefix (as
``sam local start-api`` does). Requests become the exact proxy event Lambda receives, and
responses are checked the way API Gateway checks them: a malformed response, an error or a
timeout is a 502, an unknown route a 403 "Missing Authentication Token".
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

from contactsync_ops.local_stack.loopback_ports import LOOPBACK, PortInUseError, claim_port
from contactsync_ops.local_stack.template_model import DEFAULT_ACCOUNT_ID

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contactsync_ops.local_stack.lambda_runtime import LambdaRuntime
    from contactsync_ops.local_stack.template_model import ApiRoute, FunctionSpec

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
LOCAL_API_ID = "localapi01"
_TEXT_TYPES = (
    "application/json",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/javascript",
)
_BINARY_TYPES = ("application/octet-stream", "application/pdf", "application/zip", "application/gzip")
_BINARY_FAMILIES = ("image/", "audio/", "video/", "font/")
_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}


@dataclass(frozen=True)
class RouteBinding:
    """A template route and the function behind it."""

    function_logical_id: str
    route: ApiRoute


def redacted_path(path: str) -> str:
    """A path fit for a log: long segments (tokens, ids) are replaced, short ones kept."""
    return "/".join("{...}" if len(segment) >= 16 else segment for segment in path.split("/"))


@dataclass(frozen=True)
class RouteMatch:
    binding: RouteBinding
    path_parameters: dict[str, str]


def _segments(path: str) -> list[str]:
    trimmed = path.strip("/")
    return trimmed.split("/") if trimmed else []


def _match_template(template: str, path: str) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """Match a resource path like /v1/sources/{source_id}/contacts; return (specificity, params)."""
    wanted, actual = _segments(template), _segments(path)
    parameters: dict[str, str] = {}
    specificity: list[int] = []
    for index, segment in enumerate(wanted):
        if segment.startswith("{") and segment.endswith("+}"):
            if index >= len(actual):
                return None
            parameters[segment[1:-2]] = "/".join(actual[index:])
            return (*specificity, 0), parameters
        if index >= len(actual):
            return None
        if segment.startswith("{") and segment.endswith("}"):
            if not actual[index]:
                return None
            parameters[segment[1:-1]] = actual[index]
            specificity.append(1)
        elif segment == actual[index]:
            specificity.append(2)
        else:
            return None
    if len(actual) != len(wanted):
        return None
    return tuple(specificity), parameters


class ApiRouter:
    """Finds the function for a method and path, preferring literal segments and exact methods."""

    def __init__(self, functions: Mapping[str, FunctionSpec]) -> None:
        self.bindings = [
            RouteBinding(logical_id, route)
            for logical_id, spec in functions.items()
            for route in spec.api_routes
        ]

    def match(self, method: str, path: str) -> RouteMatch | None:
        best: tuple[tuple[tuple[int, ...], int], RouteMatch] | None = None
        for binding in self.bindings:
            if binding.route.method not in (method.upper(), "ANY"):
                continue
            matched = _match_template(binding.route.path, path)
            if matched is None:
                continue
            specificity, parameters = matched
            rank = (specificity, 1 if binding.route.method != "ANY" else 0)
            if best is None or rank > best[0]:
                best = (rank, RouteMatch(binding, parameters))
        return None if best is None else best[1]


def is_text_body(content_type: str | None, body: bytes) -> bool:
    """Text bodies reach the function as str; others base64-encoded with isBase64Encoded."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in _BINARY_TYPES or media_type.startswith(_BINARY_FAMILIES):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def build_proxy_event(
    *,
    method: str,
    raw_target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    match: RouteMatch,
    source_ip: str,
    server_port: int,
    account_id: str = DEFAULT_ACCOUNT_ID,
    request_id: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The REST API (payload 1.0) Lambda proxy event for one HTTP request."""
    now = time.time() if now is None else now
    request_id = request_id or str(uuid.uuid4())
    split = urlsplit(raw_target)
    path = unquote(split.path) or "/"
    all_headers = list(headers)
    present = {name.lower() for name, _ in all_headers}
    for name, value in (
        ("X-Forwarded-For", source_ip),
        ("X-Forwarded-Port", str(server_port)),
        ("X-Forwarded-Proto", "http"),
    ):
        if name.lower() not in present:
            all_headers.append((name, value))
    single_headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in all_headers:
        single_headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    query_pairs = parse_qsl(split.query, keep_blank_values=True)
    single_query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in query_pairs:
        single_query[name] = value
        multi_query.setdefault(name, []).append(value)
    lower_headers = {name.lower(): value for name, value in all_headers}
    route = match.binding.route
    text = is_text_body(lower_headers.get("content-type"), body)
    event_body: str | None
    if not body:
        event_body = None
    elif text:
        event_body = body.decode("utf-8")
    else:
        event_body = base64.b64encode(body).decode("ascii")
    domain_name = lower_headers.get("host", f"{LOOPBACK}:{server_port}")
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": match.path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": route.path,
            "httpMethod": method.upper(),
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": f"/{route.stage}{path}",
            "accountId": account_id,
            "protocol": "HTTP/1.1",
            "stage": route.stage,
            "domainPrefix": domain_name.split(".", 1)[0],
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": lower_headers.get("user-agent"),
                "user": None,
            },
            "domainName": domain_name,
            "apiId": LOCAL_API_ID,
        },
        "body": event_body,
        "isBase64Encoded": bool(body) and not text,
    }


class MalformedProxyResponseError(ValueError):
    """The function's answer is not a valid Lambda proxy response (API Gateway gives 502)."""


@dataclass(frozen=True)
class ProxyResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def parse_proxy_response(payload: Any) -> ProxyResponse:
    """Check and convert a proxy response as API Gateway does before answering the client."""
    if not isinstance(payload, dict):
        raise MalformedProxyResponseError(f"response must be a JSON object, got {type(payload).__name__}")
    unknown = set(payload) - _RESPONSE_KEYS
    if unknown:
        raise MalformedProxyResponseError(f"unexpected keys in response: {sorted(unknown)}")
    status = payload.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedProxyResponseError(f"statusCode must be an HTTP status, got {status!r}")
    single = payload.get("headers") or {}
    multi = payload.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise MalformedProxyResponseError("headers and multiValueHeaders must be objects")
    headers: list[tuple[str, str]] = []
    multi_names = set()
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedProxyResponseError(f"multiValueHeaders[{name!r}] must be a list")
        multi_names.add(name.lower())
        headers += [(str(name), str(value)) for value in values]
    headers += [(str(name), str(value)) for name, value in single.items() if name.lower() not in multi_names]
    body = payload.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise MalformedProxyResponseError(f"body must be a string, got {type(body).__name__}")
    elif payload.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except binascii.Error as error:
            raise MalformedProxyResponseError(f"body is not valid base64: {error}") from error
    else:
        data = body.encode("utf-8")
    return ProxyResponse(status, headers, data)


class _ApiRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "contactsync-local-apigateway"
    # Headers and body go out in two writes; with Nagle's algorithm the body then waits for the
    # client's delayed ACK, 40 ms on Linux, on every keep-alive request.
    disable_nagle_algorithm = True
    gateway: ClassVar[ApiGatewayServer]

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_GET  # noqa: N815 - names BaseHTTPRequestHandler looks up
    do_PUT = do_GET  # noqa: N815
    do_PATCH = do_GET  # noqa: N815
    do_DELETE = do_GET  # noqa: N815
    do_HEAD = do_GET  # noqa: N815
    do_OPTIONS = do_GET  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, request_id: str) -> None:
        self.send_response(status)
        names = {name.lower() for name, _ in headers}
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        if "content-type" not in names:
            self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-RequestId", request_id)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_message(self, status: int, message: str, request_id: str) -> None:
        self._send(
            status,
            [("Content-Type", "application/json")],
            json.dumps({"message": message}).encode(),
            request_id,
        )

    def _handle(self) -> None:
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        gateway = self.gateway
        length_header = self.headers.get("Content-Length")
        try:
            length = int(length_header) if length_header else 0
        except ValueError:
            self.close_connection = True
            self._send_message(400, "Invalid Content-Length", request_id)
            return
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send_message(413, f"HTTP content length exceeded {MAX_BODY_BYTES} bytes.", request_id)
            return
        body = self.rfile.read(length) if length else b""
        path = unquote(urlsplit(self.path).path)
        match = gateway.router.match(self.command, path)
        if match is None:
            self._send_message(403, "Missing Authentication Token", request_id)
            logger.info("%s %s -> 403 (no such route)", self.command, redacted_path(path))
            return
        event = build_proxy_event(
            method=self.command,
            raw_target=self.path,
            headers=list(self.headers.items()),
            body=body,
            match=match,
            source_ip=self.client_address[0],
            server_port=gateway.port,
            account_id=gateway.account_id,
            request_id=request_id,
        )
        function_id = match.binding.function_logical_id
        # Log the route, not the path: paths carry link tokens that must not reach a log.
        path = match.binding.route.path
        result = gateway.runtime.invoke(function_id, event)
        if result.error is not None:
            logger.error(
                "%s %s -> %s failed: %s: %s%s",
                self.command,
                path,
                function_id,
                result.error.error_type,
                result.error.error_message,
                "\n" + "".join(result.error.stack_trace) if result.error.stack_trace else "",
            )
            self._send_message(502, "Internal server error", request_id)
            return
        try:
            response = parse_proxy_response(result.payload)
        except MalformedProxyResponseError as error:
            logger.error(
                "%s %s -> %s returned a malformed proxy response: %s", self.command, path, function_id, error
            )
            self._send_message(502, "Internal server error", request_id)
            return
        self._send(response.status, response.headers, response.body, request_id)
        logger.info(
            "%s %s -> %s %d (%.0f ms)",
            self.command,
            path,
            function_id,
            response.status,
            (time.monotonic() - started) * 1000,
        )


class _GatewayHttpServer(ThreadingHTTPServer):
    """A listen backlog for bursts: API Gateway never resets a sender, socketserver's default of 5 does."""

    request_queue_size = 256
    daemon_threads = True


class ApiGatewayServer:
    """The HTTP server on 127.0.0.1 serving every Api event of the template."""

    def __init__(
        self,
        functions: Mapping[str, FunctionSpec],
        runtime: LambdaRuntime,
        *,
        port: int = 3000,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        self.router = ApiRouter(functions)
        self.runtime = runtime
        self.requested_port = port
        self.account_id = account_id
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> str:
        """Start serving in a background thread; return the base URL."""
        port = claim_port(self.requested_port, "API Gateway")
        handler = type("BoundApiRequestHandler", (_ApiRequestHandler,), {"gateway": self})
        try:
            self._server = _GatewayHttpServer((LOOPBACK, port), handler)
        except OSError as error:
            raise PortInUseError(f"API Gateway cannot listen on {LOOPBACK}:{port}: {error}") from error
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="api-gateway", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
