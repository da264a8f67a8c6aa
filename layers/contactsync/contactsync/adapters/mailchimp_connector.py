"""Deliver changes to a Mailchimp audience through the Marketing API v3.

One ``deliver`` call gets the items of a batch for one destination:

- an erasure permanently deletes the member (``actions/delete-permanent``);
- an email change updates the existing member's ``email_address`` (``PUT`` on
  the old subscriber hash), so the audience never holds the old address next to
  the new one;
- two or more plain upserts go through the batch endpoint (``POST /lists/{id}``,
  500 members a call); a single one is a ``PUT`` on its subscriber hash;
- tags are added with ``POST .../tags`` (inside the batch body for batched members).

Retries of 429, 5xx, timeouts and dropped connections happen in the session
(``contactsync.adapters.http_sessions``); what is still failing afterwards comes
back as a retryable result with the server's ``Retry-After``. Any other 4xx is
permanent, and its reason is Mailchimp's error title or code, never an address.
"""

from __future__ import annotations

import email.utils
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from contactsync.domain.delivery import ItemResult, MemberStatus, OutboundItem
from contactsync.domain.destination import Destination, MailchimpSettings

BATCH_LIMIT = 500


def subscriber_hash(email_address: str) -> str:
    """Mailchimp's id of a member: the MD5 of the lowercased address (an identifier, not a secret)."""
    return hashlib.md5(email_address.lower().encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class _Failure:
    retryable: bool
    reason: str
    retry_after_seconds: float | None = None

    def result(self, item: OutboundItem) -> ItemResult:
        return ItemResult(
            contact_id=item.contact_id,
            ok=False,
            retryable=self.retryable,
            reason=self.reason,
            retry_after_seconds=self.retry_after_seconds,
        )


@dataclass(frozen=True)
class _Call:
    """What one HTTP call came back with: a status and JSON body, or the failure to report."""

    status: int
    body: Any
    failure: _Failure | None

    @property
    def ok(self) -> bool:
        return self.failure is None


def _status_fields(status: MemberStatus, settings: MailchimpSettings) -> dict[str, str]:
    """``status`` sets an existing member; ``status_if_new`` is used only when the member is created."""
    match status:
        case MemberStatus.SUBSCRIBED:
            return {"status": "subscribed", "status_if_new": settings.status_if_new}
        case MemberStatus.UNSUBSCRIBED:
            return {"status": "unsubscribed", "status_if_new": "unsubscribed"}
        case MemberStatus.PENDING:
            return {"status": "pending", "status_if_new": "pending"}
        case MemberStatus.NOT_SUBSCRIBED:
            return {"status_if_new": "transactional"}


def _batchable_status(status: MemberStatus, settings: MailchimpSettings) -> str | None:
    """The batch endpoint has one ``status`` for new and existing members alike; None when that differs."""
    fields = _status_fields(status, settings)
    new_status = fields.get("status")
    return new_status if new_status is not None and new_status == fields["status_if_new"] else None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json_body(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _problem_title(body: Any, status: int) -> str:
    """Mailchimp's error title (``Member Exists``, ``API Key Invalid``); the detail may hold an address."""
    if isinstance(body, dict):
        title = body.get("title")
        if isinstance(title, str) and title:
            return title[:100]
    return f"HTTP {status}"


def _old_member_unknown(call: _Call) -> bool:
    """Whether a PUT on the old subscriber hash found no member there.

    Mailchimp may answer 404, or, since a PUT creates members, 400 ``Invalid
    Resource`` because the new address does not match the old hash. A genuine
    validation error then fails again on the new hash and is reported from there.
    """
    if call.status == 404:
        return True
    return call.status == 400 and isinstance(call.body, dict) and call.body.get("title") == "Invalid Resource"


class MailchimpConnector:
    """``DestinationConnector`` for a Mailchimp audience."""

    def __init__(
        self, session: requests.Session, api_key_for: Callable[[str], str], timeout_seconds: float
    ) -> None:
        self._session = session
        self._api_key_for = api_key_for
        self._timeout = timeout_seconds

    def deliver(self, destination: Destination, items: Sequence[OutboundItem]) -> list[ItemResult]:
        if not items:
            return []
        settings = destination.mailchimp
        if settings is None:
            failure = _Failure(retryable=False, reason="mailchimp settings missing")
            return [failure.result(item) for item in items]
        try:
            api_key = self._api_key_for(destination.destination_id)
        except Exception as error:  # the secret store failed: nothing was sent, try again later
            failure = _Failure(retryable=True, reason=f"api key unavailable: {type(error).__name__}")
            return [failure.result(item) for item in items]
        audience = _Audience(self._session, settings, api_key, self._timeout)
        results: dict[int, ItemResult] = {}
        batched, single = self._plan(settings, items)
        workers = max(1, destination.max_concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mailchimp") as pool:
            chunks = list(chunked(batched, BATCH_LIMIT))
            chunk_results = pool.map(lambda chunk: audience.upsert_batch([items[i] for i in chunk]), chunks)
            for chunk, answers in zip(chunks, chunk_results, strict=True):
                results.update(zip(chunk, answers, strict=True))
            # Items of one contact run in order, in one worker; contacts run side by side.
            groups: dict[str, list[int]] = {}
            for index in single:
                groups.setdefault(items[index].contact_id, []).append(index)
            for group_results in pool.map(
                lambda group: [(i, audience.deliver_one(items[i])) for i in group], groups.values()
            ):
                results.update(group_results)
        return [results[index] for index in range(len(items))]

    @staticmethod
    def _plan(settings: MailchimpSettings, items: Sequence[OutboundItem]) -> tuple[list[int], list[int]]:
        """Which items go through the batch endpoint, and which one by one.

        Batched: plain upserts (no erasure, no email change) whose status the
        batch endpoint can express, one per contact and address. The rest, and
        any second item of the same contact, are sent one by one, after the batch.
        """
        candidates: list[int] = []
        contact_counts: dict[str, int] = {}
        for item in items:
            contact_counts[item.contact_id] = contact_counts.get(item.contact_id, 0) + 1
        seen_addresses: set[str] = set()
        single: list[int] = []
        for index, item in enumerate(items):
            plain = (
                not item.erase
                and item.email is not None
                and item.previous_remote_id in (None, subscriber_hash(item.email))
                and _batchable_status(item.status, settings) is not None
                and contact_counts[item.contact_id] == 1
                and item.email.lower() not in seen_addresses
            )
            if plain and item.email is not None:
                seen_addresses.add(item.email.lower())
                candidates.append(index)
            else:
                single.append(index)
        if len(candidates) < 2:
            return [], sorted(single + candidates)
        return candidates, single


class _Audience:
    """The calls on one audience with one API key."""

    def __init__(
        self, session: requests.Session, settings: MailchimpSettings, api_key: str, timeout: float
    ) -> None:
        self._session = session
        self._settings = settings
        self._auth = ("contactsync", api_key)
        self._timeout = timeout
        self._base = str(settings.api_url).rstrip("/")
        self._list_path = f"/lists/{quote(settings.list_id, safe='')}"

    # -- one item ---------------------------------------------------------------------------------

    def deliver_one(self, item: OutboundItem) -> ItemResult:
        if item.erase:
            return self._erase(item)
        if item.email is None:
            return _Failure(retryable=False, reason="no email address").result(item)
        new_hash = subscriber_hash(item.email)
        if item.previous_remote_id and item.previous_remote_id != new_hash:
            call = self._put_member(item.previous_remote_id, item)
            if _old_member_unknown(call):
                call = self._put_member(new_hash, item)  # the old member is gone: add the new address
        else:
            call = self._put_member(new_hash, item)
        if call.failure is not None:
            return call.failure.result(item)
        if item.tags:
            tagged = self._add_tags(new_hash, item.tags)
            if tagged.failure is not None:
                return tagged.failure.result(item)
        return ItemResult(contact_id=item.contact_id, ok=True, remote_id=new_hash)

    def _erase(self, item: OutboundItem) -> ItemResult:
        member = item.previous_remote_id or (subscriber_hash(item.email) if item.email else None)
        if member is None:
            return _Failure(retryable=False, reason="no member to erase").result(item)
        call = self._call("POST", f"{self._member_path(member)}/actions/delete-permanent", None)
        if call.ok or call.status == 404:
            return ItemResult(contact_id=item.contact_id, ok=True, remote_id=None)
        assert call.failure is not None
        return call.failure.result(item)

    def _put_member(self, member: str, item: OutboundItem) -> _Call:
        body: dict[str, Any] = {"email_address": item.email, **_status_fields(item.status, self._settings)}
        if item.fields:
            body["merge_fields"] = dict(item.fields)
        return self._call("PUT", self._member_path(member), body)

    def _add_tags(self, member: str, tags: Sequence[str]) -> _Call:
        body = {"tags": [{"name": tag, "status": "active"} for tag in tags]}
        return self._call("POST", f"{self._member_path(member)}/tags", body)

    # -- many items -------------------------------------------------------------------------------

    def upsert_batch(self, items: Sequence[OutboundItem]) -> list[ItemResult]:
        """One call to the batch endpoint for at most 500 plain upserts; results in the items' order."""
        members: list[dict[str, Any]] = []
        for item in items:
            assert item.email is not None
            member: dict[str, Any] = {
                "email_address": item.email,
                "status": _batchable_status(item.status, self._settings),
            }
            if item.fields:
                member["merge_fields"] = dict(item.fields)
            if item.tags:
                member["tags"] = list(item.tags)
            members.append(member)
        call = self._call("POST", self._list_path, {"members": members, "update_existing": True})
        if call.failure is not None:
            return [call.failure.result(item) for item in items]
        done: set[str] = set()
        errors: dict[str, str] = {}
        body = call.body if isinstance(call.body, dict) else {}
        for key in ("new_members", "updated_members"):
            for entry in body.get(key) or ():
                if isinstance(entry, dict) and isinstance(entry.get("email_address"), str):
                    done.add(entry["email_address"].lower())
        for entry in body.get("errors") or ():
            if isinstance(entry, dict) and isinstance(entry.get("email_address"), str):
                code = entry.get("error_code")
                errors[entry["email_address"].lower()] = code if isinstance(code, str) and code else "ERROR"
        return [self._batch_result(item, done, errors) for item in items]

    @staticmethod
    def _batch_result(item: OutboundItem, done: set[str], errors: dict[str, str]) -> ItemResult:
        assert item.email is not None
        address = item.email.lower()
        if address in errors:
            return _Failure(retryable=False, reason=errors[address]).result(item)
        if address in done:
            return ItemResult(contact_id=item.contact_id, ok=True, remote_id=subscriber_hash(item.email))
        # Not in the answer at all: Mailchimp did not say what happened, so send it again later.
        return _Failure(retryable=True, reason="missing from batch response").result(item)

    # -- HTTP -------------------------------------------------------------------------------------

    def _member_path(self, member: str) -> str:
        return f"{self._list_path}/members/{quote(member, safe='')}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> _Call:
        try:
            response = self._session.request(
                method, self._base + path, json=body, auth=self._auth, timeout=self._timeout
            )
        except requests.RequestException as error:
            return _Call(0, None, _Failure(retryable=True, reason=type(error).__name__))
        payload = _json_body(response)
        status = response.status_code
        if status < 300:
            return _Call(status, payload, None)
        if status == 429 or status >= 500:
            reason = _problem_title(payload, status)
            failure = _Failure(retryable=True, reason=reason, retry_after_seconds=_retry_after(response))
        else:
            failure = _Failure(retryable=False, reason=_problem_title(payload, status))
        return _Call(status, payload, failure)


def chunked(indexes: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(indexes), size):
        yield indexes[start : start + size]
