"""How a contact is identified: normalised email, or E.164 phone when it has none."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from email_validator import EmailNotValidError


class InvalidIdentity(ValueError):
    """An email or phone that cannot identify anyone; the message never repeats the value."""


def normalise_email(raw: str) -> str:
    """Trim, check the syntax (no DNS), lowercase and IDNA-encode the domain.

    The local part keeps its case for display; ``email_key`` is what identifies.
    email-validator is imported here, not with the module: Push, Mail and the pages use contacts
    without checking addresses, and its import is about 20 ms of their cold start.
    """
    from email_validator import EmailNotValidError, validate_email

    candidate = raw.strip()
    try:
        checked = validate_email(candidate, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as error:
        raise InvalidIdentity(f"not a valid email address: {_reason(error)}") from None
    local_part, _, _ = checked.normalized.rpartition("@")
    ascii_domain = checked.ascii_domain or checked.domain
    return f"{local_part}@{ascii_domain.lower()}"


def email_key(normalised_email: str) -> str:
    """The identity of an address: fully lowercased (mail systems treat the local part so)."""
    return normalised_email.lower()


def normalise_phone(raw: str, default_region: str | None = None) -> str:
    """Parse a phone number and return it in E.164, or raise ``InvalidIdentity``.

    phonenumbers loads its metadata on import (tens of ms of a cold start): only
    contacts that carry a phone pay for it.
    """
    import phonenumbers

    try:
        parsed = phonenumbers.parse(raw.strip(), default_region)
    except phonenumbers.NumberParseException:
        raise InvalidIdentity("not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidIdentity("not a valid phone number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _reason(error: EmailNotValidError) -> str:
    # email-validator messages can quote the address; keep only the generic sentence.
    text = str(error)
    return text.split(":")[0] if "@" in text else text
