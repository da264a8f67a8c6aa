"""Recurring imports through the running local stack, driven the way an operator drives them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from contactsync.domain.contact import SubscriptionStatus
from tests.doubles.contacts_api_server import ContactsApiServer
from tests.e2e.stack_client import StackClient, run_cli

pytestmark = pytest.mark.e2e

FRENCH_CSV = (
    "Courriel;Prénom;Nom;Date de naissance;Ville\n"
    "amelie@example.com;Amélie;Côté;24/12/1990;Québec\n"
    "benoit@example.com;Benoît;Gagné;01/02/1985;Montréal\n"
    "pas-une-adresse;Chloé;Roy;05/05/1970;Laval\n"
    "denise@example.com;Denise;Lévesque;31/01/1960;Gatineau\n"
)


@pytest.fixture(scope="module")
def stack(local_stack: Any) -> StackClient:
    return StackClient(local_stack)


@pytest.fixture(scope="module")
def members_api() -> Iterator[ContactsApiServer]:
    with ContactsApiServer(count=250, token="api-token") as server:
        yield server


class RunReport(NamedTuple):
    """One line of `jobs runs`: a run's id, status and counters."""

    run_id: str
    status: str
    added: int
    updated: int
    unchanged: int
    skipped: int
    rejected: int


RUN_LINE = re.compile(
    r"^(\S+) \S+ (\w+) \([^)]*\): "
    r"added (\d+), updated (\d+), unchanged (\d+), skipped (\d+), rejected (\d+)$",
    re.MULTILINE,
)


def run_reports(output: str) -> list[RunReport]:
    """The runs `jobs runs` lists, newest first."""
    return [
        RunReport(run_id, status, *(int(count) for count in counts))
        for run_id, status, *counts in RUN_LINE.findall(output)
    ]


def started_run_id(output: str) -> str:
    """The id `jobs run-now` reports for the run it started."""
    match = re.search(r"^Run (\S+) started\.$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def cli_refused(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contactsync_ops.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_a_job_without_the_operators_permission_is_refused(
    stack: StackClient, members_api: ContactsApiServer
) -> None:
    done = cli_refused(
        "jobs", "add", "no-permission", "--http-url", members_api.url(), "--state-dir", stack.state_dir
    )
    assert done.returncode != 0
    assert "permission" in done.stdout.lower()


def test_an_http_api_is_imported_page_by_page_with_its_consent_basis(
    stack: StackClient, members_api: ContactsApiServer
) -> None:
    # Given a member system's API, paged by cursor, behind a bearer token
    run_cli(
        "jobs", "add", "members-api", "--permission-confirmed",
        "--http-url", members_api.url("cursor"), "--pagination", "cursor",
        "--token-name", "members-api", "--token", "api-token",
        "--consent-basis", "express", "--consent-method", "membership form", "--list", "members",
        "--state-dir", stack.state_dir,
    )  # fmt: skip
    # When the operator runs it now
    output = run_cli("jobs", "run-now", "members-api", "--state-dir", stack.state_dir)
    first_run = started_run_id(output)
    # Then the run report counts every contact, and they are subscribed with the job's basis
    assert "succeeded" in output
    assert "added 250" in output
    contact = stack.contact("person7@example.com")
    assert contact is not None
    assert contact.status is SubscriptionStatus.SUBSCRIBED
    assert contact.lists == {"members": SubscriptionStatus.SUBSCRIBED}
    # And a second run with nothing changed writes nothing
    again = run_cli("jobs", "run-now", "members-api", "--state-dir", stack.state_dir)
    assert "added 0, updated 0, unchanged 250" in again
    second_run = started_run_id(again)

    # When the operator lists the job's runs
    runs = run_reports(run_cli("jobs", "runs", "members-api", "--state-dir", stack.state_dir))
    # Then both runs are there, newest first, each with its own counts
    assert runs == [
        RunReport(second_run, "succeeded", added=0, updated=0, unchanged=250, skipped=0, rejected=0),
        RunReport(first_run, "succeeded", added=250, updated=0, unchanged=0, skipped=0, rejected=0),
    ]


def test_a_french_latin1_csv_dropped_in_s3_is_imported_once_with_its_bad_row_reported(
    stack: StackClient, tmp_path: Path
) -> None:
    # Given a French member list exported by a spreadsheet (Latin-1, semicolons, dd/mm/yyyy)
    stack.target.s3().put_object(
        Bucket=stack.target.import_bucket, Key="membres/2026-11.csv", Body=FRENCH_CSV.encode("latin-1")
    )
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"date_order": "dd/mm/yyyy"}), encoding="utf-8")
    run_cli(
        "jobs", "add", "membres-csv", "--permission-confirmed", "--s3-prefix", "membres/",
        "--mapping", str(mapping), "--state-dir", stack.state_dir,
    )  # fmt: skip
    # When it runs
    output = run_cli("jobs", "run-now", "membres-csv", "--state-dir", stack.state_dir)
    # Then three contacts arrive with their accents and birthdays, and the bad line is named
    assert "added 3" in output
    assert "rejected 1" in output
    assert "line 4 of membres/2026-11.csv" in output
    amelie = stack.contact("amelie@example.com")
    assert amelie is not None
    assert (amelie.profile.first_name, amelie.profile.last_name, amelie.profile.birthday) == (
        "Amélie",
        "Côté",
        "1990-12-24",
    )
    # Without a recorded basis, imported contacts are stored but never subscribed (CASL)
    assert amelie.status is SubscriptionStatus.NOT_SUBSCRIBED
    # And the file is imported once: the next run reads nothing
    again = run_cli("jobs", "run-now", "membres-csv", "--state-dir", stack.state_dir)
    assert "added 0, updated 0, unchanged 0, skipped 0, rejected 0" in again
