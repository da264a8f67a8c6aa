import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contactsync.domain.field_mapping import (
    DateOrder,
    FieldMapping,
    FieldRule,
    Transform,
    TransformError,
    apply_transform,
    map_payload,
    parse_boolean,
    parse_date,
    parse_decimal,
    parse_language,
    split_full_name,
)


def test_email_and_names_are_recognised_without_a_mapping_in_french_too() -> None:
    # Given a French form with no mapping / When mapped / Then the canonical fields are found
    mapped = map_payload(
        {"Courriel": "a@b.co", "Prénom": "Élise", "Nom": "Roy", "Entreprise": "Coop"}, FieldMapping()
    )
    assert mapped.values == {"email": "a@b.co", "first_name": "Élise", "last_name": "Roy"}
    assert mapped.custom == {"Entreprise": "Coop"}


def test_dotted_paths_and_transforms_map_a_nested_payload() -> None:
    # Given a member system's nested payload and a mapping for it
    mapping = FieldMapping(
        rules=(
            FieldRule(
                source_path="member.user.email", target="email", transforms=(Transform.TRIM, Transform.LOWER)
            ),
            FieldRule(source_path="member.name", target="full_name"),
            FieldRule(source_path="member.phone", target="phone", transforms=(Transform.PHONE,)),
            FieldRule(source_path="member.born", target="birthday", transforms=(Transform.DATE,)),
            FieldRule(source_path="member.newsletter", target="newsletter", transforms=(Transform.BOOLEAN,)),
            FieldRule(
                source_path="member.plans.0.price", target="custom.price", transforms=(Transform.DECIMAL,)
            ),
        ),
        date_order=DateOrder.DAY_FIRST,
    )
    payload = {
        "member": {
            "user": {"email": "  Ada@Example.COM "},
            "name": "Ada King Lovelace",
            "phone": "514 555 0199",
            "born": "10/12/1815",
            "newsletter": "oui",
            "plans": [{"price": "1 234,50 $"}],
        }
    }
    mapped = map_payload(payload, mapping)
    assert mapped.problems == {}
    assert mapped.values == {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "King Lovelace",
        "phone": "+15145550199",
        "birthday": "1815-12-10",
        "newsletter": True,
    }
    assert mapped.custom == {"price": "1234.50"}


def test_unreadable_values_are_problems_at_their_path_not_crashes() -> None:
    mapping = FieldMapping(
        rules=(FieldRule(source_path="born", target="birthday", transforms=(Transform.DATE,)),)
    )
    mapped = map_payload({"born": "31/02/2000", "email": "a@b.co"}, mapping)
    assert "born" in mapped.problems
    assert mapped.values == {"email": "a@b.co"}


def test_unmapped_fields_can_be_dropped_per_source() -> None:
    assert map_payload({"email": "a@b.co", "x": "1"}, FieldMapping(keep_unmapped=False)).custom == {}


@pytest.mark.parametrize(
    ("raw", "order", "expected"),
    [
        ("2026-11-23", DateOrder.ISO, "2026-11-23"),
        ("2026-11-23T10:00:00Z", DateOrder.ISO, "2026-11-23"),
        ("23/11/2026", DateOrder.DAY_FIRST, "2026-11-23"),
        ("11/23/2026", DateOrder.MONTH_FIRST, "2026-11-23"),
    ],
)
def test_dates_in_each_order(raw: str, order: DateOrder, expected: str) -> None:
    assert parse_date(raw, order) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1 234,50 $", "1234.50"),
        ("$1,234.50", "1234.50"),
        ("12,5", "12.5"),
        ("1.234,5 €", "1234.5"),
        (7, "7"),
    ],
)
def test_decimals_with_comma_or_point_and_currency(raw: object, expected: str) -> None:
    assert parse_decimal(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"), [("Oui", True), ("non", False), ("YES", True), ("0", False), (True, True)]
)
def test_booleans_in_english_and_french(raw: object, expected: bool) -> None:
    assert parse_boolean(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("French", "fr"), ("fr-CA", "fr"), ("Français", "fr"), ("ENG", "en"), ("es_MX", "es")],
)
def test_language_names_and_codes_become_iso_639_1(raw: str, expected: str) -> None:
    assert parse_language(raw) == expected


def test_full_name_split() -> None:
    assert split_full_name("Lovelace, Ada") == ("Ada", "Lovelace")
    assert split_full_name("Cher") == ("Cher", None)


@given(
    st.sampled_from(list(Transform)),
    st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.booleans()),
)
def test_transforms_raise_only_transform_errors(transform: Transform, value: object) -> None:
    # Property: any input either transforms or is refused with TransformError
    with contextlib.suppress(TransformError):
        apply_transform(transform, value, FieldMapping())


@given(st.text(max_size=40))
def test_text_transforms_are_idempotent(value: str) -> None:
    mapping = FieldMapping()
    for transform in (Transform.TRIM, Transform.LOWER, Transform.UPPER):
        once = apply_transform(transform, value, mapping)
        assert apply_transform(transform, once, mapping) == once


@given(
    st.dictionaries(
        st.text(max_size=12), st.one_of(st.none(), st.text(max_size=20), st.integers()), max_size=8
    )
)
def test_mapping_any_flat_payload_never_raises(payload: dict[str, object]) -> None:
    mapped = map_payload(payload, FieldMapping())
    # Every kept field has a name DynamoDB can store (an empty attribute name is refused there)
    assert all(name.strip() for name in mapped.custom)


def test_a_field_without_a_name_is_a_problem_not_a_custom_attribute() -> None:
    # Given a payload with an empty key next to a valid email (a fuzzer found this one)
    mapped = map_payload({"": False, "email": "a1@example.com"}, FieldMapping())
    # Then the contact carries a problem that names it, and nothing is kept under an empty name
    assert mapped.problems == {"(empty field name)": "a field needs a name to be kept"}
    assert "" not in mapped.custom
