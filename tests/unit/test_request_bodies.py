import json

import pytest

from contactsync.api.request_bodies import parse_document, parse_submissions
from contactsync.errors import MalformedBody, PayloadTooLarge, UnsupportedMediaType, ValidationFailed


def test_json_object_is_one_contact() -> None:
    document = parse_document('{"email": "a@b.co"}', "application/json; charset=utf-8", 1024)
    assert [s.email for s in parse_submissions(document, 10)] == ["a@b.co"]


def test_form_encoded_body_as_zapier_sends_it() -> None:
    document = parse_document(
        "email=ada%40example.com&first_name=Ada", "application/x-www-form-urlencoded", 1024
    )
    (submission,) = parse_submissions(document, 10)
    assert (submission.email, submission.first_name) == ("ada@example.com", "Ada")


def test_batch_under_contacts_key() -> None:
    body = json.dumps({"contacts": [{"email": f"p{n}@b.co"} for n in range(3)]})
    assert len(parse_submissions(parse_document(body, "application/json", 10_000), 10)) == 3


def test_too_many_contacts_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_submissions([{"email": "a@b.co"}] * 11, 10)
    assert refused.value.problems[0].path == "contacts"


def test_wrong_types_name_the_field_path() -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_submissions({"contacts": [{"email": "a@b.co"}, {"email": 42}]}, 10)
    assert refused.value.problems[0].path == "contacts[1].email"


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
