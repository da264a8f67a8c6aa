"""Building a candidate from one payload: every unreadable value is a field problem, never a crash."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contactsync.domain.candidates import CandidateRejected, build_candidate
from contactsync.domain.field_mapping import FieldMapping, FieldRule
from contactsync.domain.source import Source
from contactsync.errors import FieldProblem
from contactsync.use_cases.ingest_contacts import check_payloads

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NOT_UTF8 = "not valid UTF-8 text (it holds a lone surrogate)"


def make_source(**changes: Any) -> Source:
    return Source(**{"source_id": "shop", "name": "Shop", "created_at": NOW, **changes})


def problems_of(payload: dict[str, Any], source: Source | None = None) -> list[FieldProblem]:
    with pytest.raises(CandidateRejected) as rejected:
        build_candidate(payload, source or make_source(), NOW)
    return rejected.value.problems


@pytest.mark.parametrize("structure", [{"line1": "1 Main St"}, ["1 Main St", "Apt 2"]])
def test_a_structure_mapped_to_an_address_field_is_a_problem_of_that_field(structure: object) -> None:
    # Given a source that maps its "shipping" field to the street, and a payload where it is a structure
    source = make_source(
        field_mapping=FieldMapping(rules=(FieldRule(source_path="shipping", target="street"),))
    )
    # When the candidate is built
    problems = problems_of({"email": "a@b.co", "shipping": structure}, source)
    # Then the contact is rejected with the street named, not a crash
    assert problems == [FieldProblem("street", "expected text, got a structure")]


def test_an_import_page_with_a_structure_in_an_address_field_rejects_only_that_record() -> None:
    # Given a page of two records, the first with an object where the source maps the city
    source = make_source(field_mapping=FieldMapping(rules=(FieldRule(source_path="town", target="city"),)))
    page = [{"email": "a@b.co", "town": {"name": "Montréal"}}, {"email": "c@d.co", "town": "Laval"}]
    # When the page is checked
    checked = check_payloads(source, page, NOW)
    # Then the first is rejected at "city" and the second goes on
    assert checked.rejected == {0: [FieldProblem("city", "expected text, got a structure")]}
    assert list(checked.candidates) == [1]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ('{"email": "a@b.co", "first_name": "Ann\\ud800"}', "first_name"),
        ('{"email": "a\\udfffb@b.co"}', "email"),
        ('{"email": "a@b.co", "company": "Coop \\ud83d"}', "company"),
        ('{"email": "a@b.co", "tags": ["vip", "\\udc00"]}', "tags[1]"),
        ('{"email": "a@b.co", "member": {"notes": ["\\ud800"]}}', "member.notes[0]"),
    ],
)
def test_text_with_a_lone_surrogate_is_a_problem_at_its_path(body: str, path: str) -> None:
    # Given a JSON body whose escapes make a lone surrogate (valid JSON, but not storable as UTF-8)
    payload = json.loads(body)
    # When the candidate is built
    problems = problems_of(payload)
    # Then the contact is rejected at that path, and the message does not repeat the value
    assert problems == [FieldProblem(path, NOT_UTF8)]


def test_a_field_name_with_a_lone_surrogate_is_named_escaped_so_the_answer_can_be_sent() -> None:
    # Given a payload whose field name holds a lone surrogate
    payload = json.loads('{"email": "a@b.co", "x\\ud800": "1"}')
    # When the candidate is built
    problems = problems_of(payload)
    # Then the problem names the field with the surrogate escaped, and the problem serialises as UTF-8
    assert problems == [FieldProblem("x\\ud800", "the field name is not valid UTF-8 text")]
    json.dumps([problem.path for problem in problems], ensure_ascii=False).encode()


def test_a_batch_with_a_lone_surrogate_in_one_contact_rejects_only_that_contact() -> None:
    # Given a batch of three contacts, the second with a lone surrogate in its last name
    batch = json.loads(
        '[{"email": "a@b.co"}, {"email": "c@d.co", "last_name": "Roy\\ud800"}, {"email": "e@f.co"}]'
    )
    # When the batch is checked
    checked = check_payloads(make_source(), batch, NOW)
    # Then only the second is rejected, at its last name; the others go on to be stored
    assert checked.rejected == {1: [FieldProblem("last_name", NOT_UTF8)]}
    assert sorted(checked.candidates) == [0, 2]


def consent(**fields: str) -> dict[str, str]:
    return {"email": "a@b.co", "consent_basis": "implied", "consent_method": "purchase", **fields}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"consent_obtained_at": "9999-12-31"},
            FieldProblem("consent_obtained_at", "must not be in the future"),
        ),
        (
            {"consent_obtained_at": "2026-11-23T12:06:00Z"},
            FieldProblem("consent_obtained_at", "must not be in the future"),
        ),
        (
            {"consent_obtained_at": "2026-11-01", "consent_expires_at": "2026-10-01"},
            FieldProblem("consent_expires_at", "must be after consent_obtained_at"),
        ),
        (
            {"consent_obtained_at": "2026-11-01", "consent_expires_at": "9999-12-31T23:59:59-23:59"},
            FieldProblem("consent_expires_at", "not an ISO date within range"),
        ),
        (
            {"consent_obtained_at": "0001-01-01T00:00:00+01:00"},
            FieldProblem(
                "consent",
                "consent evidence needs consent_basis (express or implied), "
                "consent_obtained_at (ISO date) and consent_method",
            ),
        ),
    ],
)
def test_consent_dated_in_the_future_or_out_of_range_is_a_field_problem(
    fields: dict[str, str], problem: FieldProblem
) -> None:
    # Given consent evidence dated after now, expiring before it was obtained, or beyond datetime's range
    payload = consent(**fields)
    # When the candidate is built at NOW
    with pytest.raises(CandidateRejected) as rejected:
        build_candidate(payload, make_source(), now=NOW)
    # Then the contact is rejected at the consent field, not with an overflow (500)
    assert rejected.value.problems == [problem]


def test_consent_obtained_a_few_minutes_ahead_of_our_clock_is_accepted() -> None:
    # Given implied consent the sender dates 4 minutes after our clock (its clock runs ahead)
    obtained = NOW + timedelta(minutes=4)
    # When the candidate is built at NOW
    candidate = build_candidate(consent(consent_obtained_at=obtained.isoformat()), make_source(), now=NOW)
    # Then the evidence is kept as sent, in UTC
    assert candidate.consent is not None
    assert (candidate.consent.obtained_at, candidate.consent.expires_at) == (obtained, None)


def test_consent_with_an_offset_is_kept_in_utc() -> None:
    # Given express consent dated with a Montréal offset
    payload = consent(consent_basis="express", consent_obtained_at="2026-11-01T09:00:00-05:00")
    # When the candidate is built
    candidate = build_candidate(payload, make_source(), now=NOW)
    # Then the same instant is kept, in UTC
    assert candidate.consent is not None
    assert candidate.consent.obtained_at == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
    assert candidate.consent.obtained_at.utcoffset() == timedelta(0)
