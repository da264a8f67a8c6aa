"""Building a candidate from one payload: every unreadable value is a field problem, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from contactsync.domain.candidates import CandidateRejected, build_candidate
from contactsync.domain.field_mapping import FieldMapping, FieldRule
from contactsync.domain.source import Source
from contactsync.errors import FieldProblem
from contactsync.use_cases.ingest_contacts import check_payloads

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def make_source(**changes: Any) -> Source:
    return Source(**{"source_id": "shop", "name": "Shop", "created_at": NOW, **changes})


def problems_of(payload: dict[str, Any], source: Source | None = None) -> list[FieldProblem]:
    with pytest.raises(CandidateRejected) as rejected:
        build_candidate(payload, source or make_source())
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
    checked = check_payloads(source, page)
    # Then the first is rejected at "city" and the second goes on
    assert checked.rejected == {0: [FieldProblem("city", "expected text, got a structure")]}
    assert list(checked.candidates) == [1]
