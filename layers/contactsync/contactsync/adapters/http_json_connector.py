"""Read contacts from an HTTP JSON API, a page at a time, for recurring imports.

``HttpJsonConnector`` is the ``SourceConnector`` of ``HttpJsonSourceSettings``:

- pagination by page number (``?page=1,2,3...`` until an empty page or one shorter
  than the page size), by cursor (the response names the next cursor; stop when it
  is absent or null), or by next link (a URL in the body, else the
  ``Link: <...>; rel="next"`` header; stop when there is none). Every style also
  stops at an empty page, so a source that always names a next page cannot loop;
- the checkpoint of a page is a JSON string holding what fetches the next page
  (its number, cursor or URL), the ``updated since`` value the run started with,
  and how many records came before (records are numbered across the whole run);
- incremental: with ``updated_since_param`` the run's starting cursor is sent as
  that parameter, and every page carries the highest ``updated_at_field`` seen so
  far (ISO 8601 strings compare as text). A resumed run keeps sending the value it
  started with (it is in the checkpoint), whatever cursor it is given, so records
  not yet read are never filtered out;
- ``Authorization: Bearer`` when the source has credentials;
- 429 and 5xx are retried by the session (``contactsync.adapters.http_sessions``);
  what still fails raises ``ServiceUnavailable`` (resume later from the last
  checkpoint); any other 4xx raises ``ConfigurationError`` with the status only.

Pages are fetched lazily: one response in memory at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contactsync.domain.field_mapping import value_at
from contactsync.domain.import_jobs import (
    HttpJsonSourceSettings,
    ImportJob,
    Pagination,
    SourcePage,
    SourceRecord,
)
from contactsync.errors import ConfigurationError, ServiceUnavailable


class HttpCheckpoint(BaseModel):
    """Where the next page of an HTTP JSON source starts (the ``next_checkpoint`` of a page, as JSON)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    page: int | None = Field(default=None, ge=1, description="page number style: the next page")
    cursor: str | None = Field(default=None, description="cursor style: the cursor of the next page")
    url: str | None = Field(default=None, description="next link style: the URL of the next page")
    since: str | None = Field(default=None, description="the updated-since value this run sends")
    records: int = Field(default=0, ge=0, description="records read before the next page")

    def dump(self) -> str:
        return self.model_dump_json(exclude_none=True)


class HttpJsonConnector:
    """``SourceConnector`` for an HTTP JSON API that lists contacts."""

    def __init__(
        self,
        session: requests.Session,
        token_for: Callable[[str], str] | None,
        timeout_seconds: float,
    ) -> None:
        """``token_for(credentials_secret_key)`` returns the bearer token; its exceptions propagate."""
        self._session = session
        self._token_for = token_for
        self._timeout = timeout_seconds

    def pages(
        self, job: ImportJob, checkpoint: str | None, incremental_cursor: str | None
    ) -> Iterator[SourcePage]:
        """Pages from ``checkpoint`` on; the last one has ``next_checkpoint`` None (it may be empty)."""
        settings = job.connector
        if not isinstance(settings, HttpJsonSourceSettings):
            raise ConfigurationError(f"job {job.job_id} does not read an HTTP JSON source")
        start = self._start(settings, checkpoint, incremental_cursor)
        return self._pages(settings, start, incremental_cursor, first_request=checkpoint is None)

    # -- checkpoints --------------------------------------------------------------------------------

    @staticmethod
    def _start(
        settings: HttpJsonSourceSettings, checkpoint: str | None, incremental_cursor: str | None
    ) -> HttpCheckpoint:
        if checkpoint is None:
            since = incremental_cursor if settings.updated_since_param else None
            page = 1 if settings.pagination is Pagination.PAGE_NUMBER else None
            return HttpCheckpoint(page=page, since=since)
        try:
            position = HttpCheckpoint.model_validate_json(checkpoint)
        except ValidationError:
            raise ConfigurationError("the checkpoint is not one of an HTTP JSON source") from None
        needed = {
            Pagination.PAGE_NUMBER: position.page,
            Pagination.CURSOR: position.cursor,
            Pagination.NEXT_LINK: position.url,
        }[settings.pagination]
        if needed is None:
            raise ConfigurationError(
                f"the checkpoint does not fit the source's {settings.pagination.value} pagination"
            )
        return position

    # -- the pages ----------------------------------------------------------------------------------

    def _pages(
        self,
        settings: HttpJsonSourceSettings,
        position: HttpCheckpoint,
        incremental_cursor: str | None,
        first_request: bool,
    ) -> Iterator[SourcePage]:
        headers = {"Accept": "application/json"}
        if settings.credentials_secret_key is not None:
            if self._token_for is None:
                raise ConfigurationError("the source needs credentials and none can be read")
            headers["Authorization"] = f"Bearer {self._token_for(settings.credentials_secret_key)}"
        incremental = settings.updated_since_param is not None
        highest = incremental_cursor
        while True:
            url, params = _request(settings, position)
            response, body = self._get(url, params, headers)
            raw_records = _records(body, settings.records_path, first_request)
            records: list[SourceRecord] = []
            for number, raw in enumerate(raw_records, start=position.records + 1):
                where = f"record {number}"
                if not isinstance(raw, dict):
                    records.append(SourceRecord(where=where, problem="the record is not a JSON object"))
                    continue
                records.append(SourceRecord(where=where, fields=raw))
                if incremental:
                    updated_at = value_at(raw, settings.updated_at_field)
                    if (
                        isinstance(updated_at, str)
                        and updated_at
                        and (highest is None or updated_at > highest)
                    ):
                        highest = updated_at
            following = _next_position(settings, position, response, body, len(raw_records))
            yield SourcePage(
                records=records,
                next_checkpoint=following.dump() if following is not None else None,
                incremental_cursor=highest if incremental else incremental_cursor,
            )
            if following is None:
                return
            position = following
            first_request = False

    def _get(
        self, url: str, params: dict[str, str], headers: dict[str, str]
    ) -> tuple[requests.Response, Any]:
        try:
            response = self._session.get(url, params=params, headers=headers, timeout=self._timeout)
        except requests.RequestException as error:
            raise ServiceUnavailable(
                f"the source could not be reached ({type(error).__name__}); the run resumes later"
            ) from error
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = response.headers.get("Retry-After")
            hint = f", Retry-After {retry_after[:20]}" if retry_after else ""
            raise ServiceUnavailable(f"the source answered HTTP {status} after retries{hint}")
        if not 200 <= status < 300:
            raise ConfigurationError(
                f"the source answered HTTP {status} {(response.reason or '')[:60]}".rstrip()
            )
        try:
            return response, response.json()
        except ValueError:
            raise ConfigurationError(f"the source answered HTTP {status} without a JSON body") from None


def _request(settings: HttpJsonSourceSettings, position: HttpCheckpoint) -> tuple[str, dict[str, str]]:
    """The URL and query parameters that fetch the page at ``position``."""
    if settings.pagination is Pagination.NEXT_LINK and position.url is not None:
        return position.url, {}  # a next link carries its own parameters
    params: dict[str, str] = {}
    if settings.pagination is Pagination.PAGE_NUMBER:
        params[settings.page_param] = str(position.page or 1)
    if settings.page_size_param:
        params[settings.page_size_param] = str(settings.page_size)
    if settings.pagination is Pagination.CURSOR and position.cursor is not None:
        params[settings.cursor_param] = position.cursor
    if settings.updated_since_param and position.since is not None:
        params[settings.updated_since_param] = position.since
    return settings.url, params


def _records(body: Any, records_path: str, first_request: bool) -> list[Any]:
    """The list of records of a response; an empty path means the body itself."""
    found = body
    if records_path:
        found = value_at(body, records_path) if isinstance(body, Mapping) else None
    if isinstance(found, list):
        return found
    if found is None and not first_request:
        return []  # some APIs answer null past the end
    raise ConfigurationError(f"the response holds no list of records at {records_path!r}")


def _next_position(
    settings: HttpJsonSourceSettings,
    position: HttpCheckpoint,
    response: requests.Response,
    body: Any,
    count: int,
) -> HttpCheckpoint | None:
    """Where the page after this one starts, or None when this was the last page."""
    if count == 0:
        return None
    records = position.records + count
    match settings.pagination:
        case Pagination.PAGE_NUMBER:
            if settings.page_size_param and count < settings.page_size:
                return None
            return position.model_copy(update={"page": (position.page or 1) + 1, "records": records})
        case Pagination.CURSOR:
            cursor = value_at(body, settings.next_cursor_path) if isinstance(body, Mapping) else None
            if cursor is None or cursor == "" or isinstance(cursor, bool | dict | list):
                return None
            if str(cursor) == position.cursor:
                raise ConfigurationError("the source named the same cursor again")
            return position.model_copy(update={"cursor": str(cursor), "records": records})
        case Pagination.NEXT_LINK:
            link = _next_link(settings, response, body)
            if link is None:
                return None
            if link == response.url or link == position.url:
                raise ConfigurationError("the source named the same page as the next one")
            return position.model_copy(update={"url": link, "records": records})


def _next_link(settings: HttpJsonSourceSettings, response: requests.Response, body: Any) -> str | None:
    """The next URL from the body, else from the ``Link`` header; only on the source's own origin."""
    link: Any = None
    if settings.next_link_path and isinstance(body, Mapping):
        link = value_at(body, settings.next_link_path)
    if not isinstance(link, str) or not link:
        link = response.links.get("next", {}).get("url")
    if not isinstance(link, str) or not link:
        return None
    absolute = urljoin(response.url, link)
    source, following = urlsplit(settings.url), urlsplit(absolute)
    if (following.scheme, following.netloc) != (source.scheme, source.netloc):
        # Following it would send the source's credentials elsewhere.
        raise ConfigurationError("the source's next link leaves its own scheme and host")
    return absolute
