import pytest

from contactsync.domain.identity import InvalidIdentity, email_key, normalise_email, normalise_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ada@Example.COM ", "Ada@example.com"),
        ("jean@bücher.ch", "jean@xn--bcher-kva.ch"),
        ("ops+tag@sub.example.org", "ops+tag@sub.example.org"),
    ],
)
def test_email_is_trimmed_and_domain_lowercased_and_idna_encoded(raw: str, expected: str) -> None:
    # Given an address as a form sends it / When normalised / Then the domain is canonical
    assert normalise_email(raw) == expected


def test_identity_of_an_address_ignores_case() -> None:
    assert email_key(normalise_email("Ada@Example.com")) == email_key(normalise_email("ada@example.com"))


@pytest.mark.parametrize("raw", ["not-an-email", "ada@", "@example.com", "ada@example", ""])
def test_invalid_email_is_refused_without_echoing_it(raw: str) -> None:
    with pytest.raises(InvalidIdentity) as refused:
        normalise_email(raw)
    assert raw.strip() == "" or raw not in str(refused.value)


def test_phone_becomes_e164_with_the_default_country() -> None:
    assert normalise_phone("(514) 555-0199", "CA") == "+15145550199"
    assert normalise_phone("+33 6 12 34 56 78") == "+33612345678"


@pytest.mark.parametrize("raw", ["12", "phone", "+1 555"])
def test_invalid_phone_is_refused(raw: str) -> None:
    with pytest.raises(InvalidIdentity):
        normalise_phone(raw, "CA")
