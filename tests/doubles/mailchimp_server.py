"""A Mailchimp-compatible HTTP server for tests, written from the Marketing API v3 reference.

It plays the few endpoints contactsync uses, with in-memory audiences:

- ``PUT  /3.0/lists/{list_id}/members/{subscriber_hash}``: add or update a member;
  on an existing member a new ``email_address`` changes the member's address;
- ``POST /3.0/lists/{list_id}``: batch subscribe or update, up to 500 members;
- ``POST /3.0/lists/{list_id}/members/{subscriber_hash}/tags``: add or remove tags;
- ``POST /3.0/lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent``.

As the real API does, it checks HTTP Basic auth (any user name, the API key as
password), answers errors as problem documents (``type``, ``title``, ``status``,
``detail``, ``instance``), refuses more than 10 simultaneous connections with a
429, and refuses to re-import a permanently deleted address.

For tests it counts calls per (method, route template), records the peak of
simultaneous connections, and injects faults: ``fail_next``, ``slow_next`` and
``drop_next``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from typing import Any, override

from tests.doubles.loopback_http import LoopbackHttpDouble, QuietJsonHandler

ERROR_TYPE = "https://mailchimp.com/developer/marketing/docs/errors/"
STATUSES = frozenset({"subscribed", "unsubscribed", "cleaned", "pending", "transactional"})
BATCH_LIMIT = 500
EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

BATCH = "/lists/{list_id}"
MEMBER = "/lists/{list_id}/members/{subscriber_hash}"
TAGS = "/lists/{list_id}/members/{subscriber_hash}/tags"
DELETE_PERMANENT = "/lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent"
ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (DELETE_PERMANENT, re.compile(r"^/3\.0/lists/([^/]+)/members/([^/]+)/actions/delete-permanent$")),
    (TAGS, re.compile(r"^/3\.0/lists/([^/]+)/members/([^/]+)/tags$")),
    (MEMBER, re.compile(r"^/3\.0/lists/([^/]+)/members/([^/]+)$")),
    (BATCH, re.compile(r"^/3\.0/lists/([^/]+)$")),
)


def subscriber_hash(email_address: str) -> str:
    return hashlib.md5(email_address.lower().encode(), usedforsecurity=False).hexdigest()


@dataclass
class Member:
    """What a person sees in the audience for one contact."""

    email_address: str
    status: str
    merge_fields: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)

    def as_json(self, list_id: str) -> dict[str, Any]:
        member_id = subscriber_hash(self.email_address)
        return {
            "id": member_id,
            "email_address": self.email_address,
            "unique_email_id": member_id[:10],
            "status": self.status,
            "merge_fields": dict(self.merge_fields),
            "tags_count": len(self.tags),
            "tags": [{"id": index + 1, "name": name} for index, name in enumerate(self.tags)],
            "list_id": list_id,
        }


@dataclass
class _Audience:
    members: dict[str, Member] = field(default_factory=dict)
    forgotten: set[str] = field(default_factory=set)


class ApiError(Exception):
    def __init__(
        self, status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors


@dataclass
class _Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _invalid(field_name: str, message: str) -> ApiError:
    return ApiError(
        400,
        "Invalid Resource",
        "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
        [{"field": field_name, "message": message}],
    )


def _not_found() -> ApiError:
    return ApiError(404, "Resource Not Found", "The requested resource could not be found.")


class MailchimpServer(LoopbackHttpDouble):
    """In-memory Mailchimp audiences behind a loopback HTTP server; use it as a context manager."""

    def __init__(
        self,
        api_key: str = "test-key-us1",
        lists: tuple[str, ...] = ("audience1",),
        max_connections: int = 10,
    ) -> None:
        self.api_key = api_key
        self.max_connections = max_connections
        self.calls: Counter[tuple[str, str]] = Counter()
        self.peak_connections = 0
        self.refused_connections = 0
        self._open_connections = 0
        self._audiences = {list_id: _Audience() for list_id in lists}
        self._lock = threading.Lock()
        self._fail: list[tuple[int, float | None]] = []
        self._slow: list[float] = []
        self._drop = 0
        super().__init__(self._handler_class(), name="mailchimp-double")

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/3.0"

    # -- what a user sees in the audience ---------------------------------------------------------

    def members(self, list_id: str) -> dict[str, Member]:
        """A copy of the audience, by lowercased email address."""
        with self._lock:
            return {
                member.email_address.lower(): replace(member, merge_fields=dict(member.merge_fields))
                for member in self._audiences[list_id].members.values()
            }

    def member(self, list_id: str, email_address: str) -> Member | None:
        return self.members(list_id).get(email_address.lower())

    def add_member(
        self, list_id: str, email_address: str, status: str = "subscribed", **merge_fields: Any
    ) -> None:
        """Seed the audience as if the member had been added in Mailchimp's own interface."""
        with self._lock:
            self._audiences[list_id].members[subscriber_hash(email_address)] = Member(
                email_address, status, dict(merge_fields)
            )

    def call_count(self, method: str, route: str) -> int:
        with self._lock:
            return self.calls[(method, route)]

    def total_calls(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    # -- fault injection --------------------------------------------------------------------------

    def fail_next(self, n: int, status: int, retry_after: float | None = None) -> None:
        """The next ``n`` requests get ``status`` (with ``Retry-After`` when given) and change nothing."""
        with self._lock:
            self._fail.extend([(status, retry_after)] * n)

    def slow_next(self, n: int, seconds: float) -> None:
        """The next ``n`` requests wait ``seconds`` before they are served (and still take effect)."""
        with self._lock:
            self._slow.extend([seconds] * n)

    def drop_next(self, n: int) -> None:
        """The next ``n`` requests are read, then the connection is closed without an answer."""
        with self._lock:
            self._drop += n

    # -- request handling -------------------------------------------------------------------------

    def _connection_opened(self) -> bool:
        with self._lock:
            self._open_connections += 1
            self.peak_connections = max(self.peak_connections, self._open_connections)
            allowed = self._open_connections <= self.max_connections
            if not allowed:
                self.refused_connections += 1
            return allowed

    def _connection_closed(self) -> None:
        with self._lock:
            self._open_connections -= 1

    def _next_fault(self) -> tuple[str, Any]:
        with self._lock:
            if self._drop:
                self._drop -= 1
                return "drop", None
            if self._fail:
                return "fail", self._fail.pop(0)
            if self._slow:
                return "slow", self._slow.pop(0)
        return "none", None

    def _record(self, method: str, route: str) -> None:
        with self._lock:
            self.calls[(method, route)] += 1

    def _authorised(self, header: str | None) -> None:
        if not header:
            raise ApiError(401, "API Key Missing", "Your request did not include an API key.")
        scheme, _, encoded = header.partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        _, _, password = decoded.partition(":")
        if scheme.lower() != "basic" or password != self.api_key:
            raise ApiError(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )

    def _audience(self, list_id: str) -> _Audience:
        audience = self._audiences.get(list_id)
        if audience is None:
            raise _not_found()
        return audience

    def _serve(self, method: str, route: str, params: tuple[str, ...], body: Any) -> _Reply:
        if route == MEMBER and method == "PUT":
            return self._put_member(params[0], params[1], body)
        if route == BATCH and method == "POST":
            return self._batch(params[0], body)
        if route == TAGS and method == "POST":
            return self._tags(params[0], params[1], body)
        if route == DELETE_PERMANENT and method == "POST":
            return self._delete_permanent(params[0], params[1])
        raise ApiError(
            405,
            "Method Not Allowed",
            "The requested method and resource are not compatible. See the Allow header for this "
            "resource's available methods.",
        )

    def _put_member(self, list_id: str, member_hash: str, body: Any) -> _Reply:
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid Resource", "The resource submitted could not be validated.")
        email_address = body.get("email_address")
        if not isinstance(email_address, str) or not email_address:
            raise _invalid("email_address", "This value should not be blank.")
        if not EMAIL_SHAPE.match(email_address):
            raise ApiError(
                400,
                "Invalid Resource",
                f"{email_address} looks fake or invalid, please enter a real email address.",
            )
        status = body.get("status")
        status_if_new = body.get("status_if_new")
        for name, value in (("status", status), ("status_if_new", status_if_new)):
            if value is not None and value not in STATUSES:
                raise _invalid(name, "Value is not one of the allowed values.")
        merge_fields = body.get("merge_fields", {})
        if not isinstance(merge_fields, dict):
            raise _invalid("merge_fields", "Schema describes object, but another type was provided.")
        new_hash = subscriber_hash(email_address)
        with self._lock:
            audience = self._audience(list_id)
            member = audience.members.get(member_hash)
            if member is None:
                if new_hash != member_hash:
                    raise ApiError(
                        400, "Invalid Resource", "The subscriber hash does not match the email address."
                    )
                if new_hash in audience.forgotten:
                    raise self._forgotten(email_address)
                first_status = status_if_new or status
                if first_status is None:
                    raise _invalid("status", "This value should not be blank.")
                member = Member(email_address, first_status, dict(merge_fields))
                audience.members[new_hash] = member
                return _Reply(200, member.as_json(list_id))
            if new_hash != member_hash:
                if new_hash in audience.members:
                    raise ApiError(
                        400,
                        "Member Exists",
                        f"{email_address} is already a list member. "
                        "Use PUT to insert or update list members.",
                    )
                if new_hash in audience.forgotten:
                    raise self._forgotten(email_address)
                del audience.members[member_hash]
                audience.members[new_hash] = member
            member.email_address = email_address
            if status is not None:
                member.status = status
            member.merge_fields.update(merge_fields)
            return _Reply(200, member.as_json(list_id))

    @staticmethod
    def _forgotten(email_address: str) -> ApiError:
        return ApiError(
            400,
            "Forgotten Email Not Subscribed",
            f"{email_address} was permanently deleted and cannot be re-imported. "
            "The contact must re-subscribe to get back on the list.",
        )

    def _batch(self, list_id: str, body: Any) -> _Reply:
        if not isinstance(body, dict) or not isinstance(body.get("members"), list):
            raise _invalid("members", "This value should not be blank.")
        members = body["members"]
        if len(members) > BATCH_LIMIT:
            raise _invalid("members", f"This collection should contain {BATCH_LIMIT} elements or less.")
        update_existing = body.get("update_existing") is True
        sync_tags = body.get("sync_tags") is True
        created: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []

        def error(entry: Any, message: str, code: str = "ERROR_GENERIC", field_name: str = "") -> None:
            address = entry.get("email_address") if isinstance(entry, dict) else None
            errors.append(
                {
                    "email_address": address if isinstance(address, str) else "",
                    "error": message,
                    "error_code": code,
                    "field": field_name,
                    "field_message": message if field_name else "",
                }
            )

        with self._lock:
            audience = self._audience(list_id)
            for entry in members:
                address = entry.get("email_address") if isinstance(entry, dict) else None
                if not isinstance(address, str) or not EMAIL_SHAPE.match(address):
                    error(entry, f"{address} looks fake or invalid, please enter a real email address.")
                    continue
                status = entry.get("status")
                if status not in STATUSES:
                    error(entry, "Invalid status.", field_name="status")
                    continue
                merge_fields = entry.get("merge_fields") or {}
                tags = entry.get("tags") or []
                if not isinstance(merge_fields, dict) or not isinstance(tags, list):
                    error(entry, "Schema describes object, but another type was provided.")
                    continue
                member_hash = subscriber_hash(address)
                if member_hash in audience.forgotten:
                    error(entry, f"{address} was permanently deleted and cannot be re-imported.")
                    continue
                member = audience.members.get(member_hash)
                if member is None:
                    member = Member(address, status, dict(merge_fields), [str(tag) for tag in tags])
                    audience.members[member_hash] = member
                    created.append(member.as_json(list_id))
                elif not update_existing:
                    error(entry, f"{address} is already a list member.", code="ERROR_CONTACT_EXISTS")
                else:
                    member.status = status
                    member.merge_fields.update(merge_fields)
                    if sync_tags:
                        member.tags = []
                    member.tags.extend(str(tag) for tag in tags if str(tag) not in member.tags)
                    updated.append(member.as_json(list_id))
        return _Reply(
            200,
            {
                "new_members": created,
                "updated_members": updated,
                "errors": errors,
                "total_created": len(created),
                "total_updated": len(updated),
                "error_count": len(errors),
            },
        )

    def _tags(self, list_id: str, member_hash: str, body: Any) -> _Reply:
        tags = body.get("tags") if isinstance(body, dict) else None
        if not isinstance(tags, list) or not all(
            isinstance(tag, dict)
            and isinstance(tag.get("name"), str)
            and tag.get("status") in ("active", "inactive")
            for tag in tags
        ):
            raise _invalid("tags", "Each tag needs a name and a status of active or inactive.")
        with self._lock:
            member = self._audience(list_id).members.get(member_hash)
            if member is None:
                raise _not_found()
            for tag in tags:
                if tag["status"] == "active" and tag["name"] not in member.tags:
                    member.tags.append(tag["name"])
                elif tag["status"] == "inactive" and tag["name"] in member.tags:
                    member.tags.remove(tag["name"])
        return _Reply(204)

    def _delete_permanent(self, list_id: str, member_hash: str) -> _Reply:
        with self._lock:
            audience = self._audience(list_id)
            if audience.members.pop(member_hash, None) is None:
                raise _not_found()
            audience.forgotten.add(member_hash)
        return _Reply(204)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(QuietJsonHandler):
            allowed = True

            def setup(self) -> None:
                super().setup()
                self.allowed = double._connection_opened()

            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    double._connection_closed()

            @override
            def do_PUT(self) -> None:
                self._handle("PUT")

            @override
            def do_POST(self) -> None:
                self._handle("POST")

            @override
            def do_GET(self) -> None:
                self._handle("GET")

            @override
            def do_PATCH(self) -> None:
                self._handle("PATCH")

            @override
            def do_DELETE(self) -> None:
                self._handle("DELETE")

            def _handle(self, method: str) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                path = self.path.split("?", 1)[0]
                route: str = "?"
                params: tuple[str, ...] = ()
                for template, pattern in ROUTES:
                    match = pattern.match(path)
                    if match:
                        route, params = template, match.groups()
                        break
                double._record(method, route)
                if not self.allowed:
                    self.close_connection = True
                    self._problem(
                        ApiError(
                            429,
                            "Too Many Requests",
                            f"You have exceeded the limit of {double.max_connections} "
                            "simultaneous connections.",
                        )
                    )
                    return
                kind, fault = double._next_fault()
                if kind == "drop":
                    self.close_connection = True
                    return
                if kind == "fail":
                    status, retry_after = fault
                    headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
                    self._problem(
                        ApiError(status, "Injected Failure", "A failure injected by the test."), headers
                    )
                    return
                if kind == "slow":
                    time.sleep(fault)
                try:
                    double._authorised(self.headers.get("authorization"))
                    if route == "?":
                        raise _not_found()
                    try:
                        body = json.loads(raw) if raw else None
                    except ValueError:
                        raise ApiError(
                            400, "JSON Parse Error", "We encountered an unspecified JSON parsing error."
                        ) from None
                    reply = double._serve(method, route, params, body)
                except ApiError as error:
                    self._problem(error)
                    return
                self._send(reply.status, reply.body, "application/json; charset=utf-8", reply.headers)

            def _problem(self, error: ApiError, headers: dict[str, str] | None = None) -> None:
                document: dict[str, Any] = {
                    "type": ERROR_TYPE,
                    "title": error.title,
                    "status": error.status,
                    "detail": error.detail,
                    "instance": str(uuid.uuid4()),
                }
                if error.errors is not None:
                    document["errors"] = error.errors
                self._send(error.status, document, "application/problem+json; charset=utf-8", headers or {})

            def _send(self, status: int, body: Any, content_type: str, headers: dict[str, str]) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_json(status, data, content_type, headers)

        return Handler
