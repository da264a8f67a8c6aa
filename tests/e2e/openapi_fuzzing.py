"""schemathesis against docs/openapi.json on a running stack, collecting findings instead of stopping.

Shared by the fast run in `make test` (tests/e2e/test_openapi_fuzz.py) and the long one in
`make soak`. A case is one generated HTTP request; each answer is checked for what the contract
promises: no 5xx, a documented status code and content type, a body and headers that match the
documented schema. Every finding keeps a curl line (credentials filtered) to reproduce it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from requests.adapters import HTTPAdapter
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from contactsync_ops.openapi_document import DOCUMENT_PATH

INGEST = "POST /v1/sources/{source_id}/contacts"
PAGES = (
    "GET /v1/confirm/{token}",
    "POST /v1/confirm/{token}",
    "GET /v1/unsubscribe/{token}",
    "POST /v1/unsubscribe/{token}",
)
CONTRACT_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@dataclass(frozen=True)
class Finding:
    operation: str
    status: int
    title: str
    message: str
    curl: str

    def describe(self) -> str:
        return f"{self.operation} -> {self.status}: {self.title}\n{self.message.strip()}\n  {self.curl}"


@dataclass
class FuzzReport:
    """Cases sent, answers by status, and what broke the contract (first example of each kind)."""

    cases: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    findings: dict[tuple[str, int, str], Finding] = field(default_factory=dict)
    failed_cases: int = 0

    def describe_findings(self) -> str:
        return "\n\n".join(finding.describe() for finding in self.findings.values())

    def figures(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "failed_cases": self.failed_cases,
            "distinct_failures": len(self.findings),
            "answers": dict(sorted(self.statuses.items())),
            "failures": [
                {"operation": op, "status": status, "failure": title} for op, status, title in self.findings
            ],
        }


def committed_contract() -> BaseSchema:
    """docs/openapi.json exactly as committed."""
    return schemathesis.openapi.from_path(str(DOCUMENT_PATH))


def operation_of(schema: BaseSchema, label: str) -> APIOperation:
    method, path = label.split(" ", 1)
    return schema[path][method]


def client_session(client_ip: str) -> requests.Session:
    """A session whose connections leave from ``client_ip`` (any 127.x.y.z on loopback).

    Cases that create contacts use their own client IP, as a public form's visitors would, so
    they never meet the per-IP cap that public-form sources put on confirmation mails.
    """

    class SourceAddressAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["source_address"] = (client_ip, 0)
            super().init_poolmanager(*args, **kwargs)

    session = requests.Session()
    session.mount("http://", SourceAddressAdapter())
    return session


def fuzz(
    operation: APIOperation,
    report: FuzzReport,
    *,
    base_url: str,
    session: requests.Session,
    cases: int,
    mode: GenerationMode,
    path_parameters: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    derandomize: bool = False,
) -> None:
    """Send up to ``cases`` generated requests for one operation and record every answer."""

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @settings(
        max_examples=cases,
        database=None,
        deadline=None,
        derandomize=derandomize,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def send(case: Any) -> None:
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        check_answer(case, response, report, base_url=base_url, headers=headers)

    send()


def check_answer(
    case: Any,
    response: Any,
    report: FuzzReport,
    *,
    base_url: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Count one case and run the contract checks on its answer; a failure becomes a finding."""
    report.cases += 1
    report.statuses[f"{case.operation.label} {response.status_code}"] += 1
    try:
        case.validate_response(response, checks=CONTRACT_CHECKS, headers=headers)
    except FailureGroup as group:
        _record(report, case, response.status_code, list(group.exceptions), base_url, headers)
    except Failure as failure:
        _record(report, case, response.status_code, [failure], base_url, headers)


def _record(
    report: FuzzReport,
    case: Any,
    status: int,
    failures: list[Failure],
    base_url: str,
    headers: dict[str, str] | None,
) -> None:
    operation = case.operation
    report.failed_cases += 1
    for failure in failures:
        key = (operation.label, status, failure.title)
        if key not in report.findings:
            report.findings[key] = Finding(
                operation=operation.label,
                status=status,
                title=failure.title,
                message=failure.message[:800],
                curl=case.as_curl_command(headers=headers, base_url=base_url),
            )
