import json

import pytest

from contactsync.api.request_bodies import parse_document, parse_submissions
from contactsync.errors import MalformedBody, PayloadTooLarge, UnsupportedMediaType, ValidationFailed


def test_json_object_is_one_contact() -> None:
    document = parse_document('{"email": "a@b.co"}', "application/json; charset=utf-8", 1024)
    assert parse_submissions(document, 10) == [{"email": "a@b.co"}]


def test_form_encoded_body_as_zapier_sends_it() -> None:
    document = parse_document(
        "email=ada%40example.com&first_name=Ada", "application/x-www-form-urlencoded", 1024
    )
    assert parse_submissions(document, 10) == [{"email": "ada@example.com", "first_name": "Ada"}]


def test_form_encoded_repeated_and_bracketed_keys_become_lists() -> None:
    document = parse_document(
        "email=a%40b.co&lists[]=news&lists[]=events", "application/x-www-form-urlencoded", 1024
    )
    assert document == {"email": "a@b.co", "lists": ["news", "events"]}


def test_batch_under_contacts_key() -> None:
    body = json.dumps({"contacts": [{"email": f"p{n}@b.co"} for n in range(3)]})
    assert len(parse_submissions(parse_document(body, "application/json", 10_000), 10)) == 3


def test_too_many_contacts_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_submissions([{"email": "a@b.co"}] * 11, 10)
    assert refused.value.problems[0].path == "contacts"


def test_items_that_are_not_objects_name_their_path() -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_submissions({"contacts": [{"email": "a@b.co"}, "a@b.co"]}, 10)
    assert refused.value.problems[0].path == "contacts[1]"


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"email": "a@b.co", "note": "x" * 10_001}, "note"),
        ({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}, "a.b.c.d.e.f.g.h"),
        ({f"k{n}": n for n in range(201)}, "body"),
    ],
)
def test_huge_strings_deep_nesting_and_huge_objects_are_refused(
    document: dict[str, object], path: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_submissions(document, 10)
    assert refused.value.problems[0].path == path


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        ("x" * 2000, "application/json", PayloadTooLarge),
        ("{}", "text/plain", UnsupportedMediaType),
        ("{}", None, UnsupportedMediaType),
        ("{not json", "application/json", MalformedBody),
        ("[" * 1000 + "]" * 1000, "application/json", None),
    ],
)
def test_bodies_are_refused_with_the_right_error(
    body: str, content_type: str | None, error: type[Exception] | None
) -> None:
    if error is None:
        parse_document(
            body, content_type, 10_000
        )  # deep but valid JSON parses; the shape check refuses it later
        return
    with pytest.raises(error):
        parse_document(body, content_type, 1024)


def test_scalar_json_is_malformed() -> None:
    with pytest.raises(MalformedBody):
        parse_submissions("just a string", 10)


def test_a_number_with_too_many_digits_is_a_malformed_body() -> None:
    # Given a JSON body whose integer is longer than Python will read (4,300 digits)
    body = '{"email": "a@b.co", "score": ' + "9" * 5000 + "}"
    # When it is parsed
    with pytest.raises(MalformedBody) as refused:
        parse_document(body, "application/json", 10_000)
    # Then it is refused as malformed (400), saying why, without repeating the number
    assert refused.value.status == 400
    assert refused.value.message == "The body holds a number with too many digits."
