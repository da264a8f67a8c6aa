"""From one mapped payload to a ``Candidate``: canonical, normalised, with every problem by field path."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from contactsync.domain.contact import ConsentBasis, ConsentEvidence, ContactProfile, PostalAddress
from contactsync.domain.field_mapping import (
    TransformError,
    map_payload,
    parse_boolean,
    parse_date,
    parse_language,
    value_at,
)
from contactsync.domain.identity import InvalidIdentity, normalise_email, normalise_phone
from contactsync.domain.source import Source
from contactsync.domain.subscription_rules import Candidate
from contactsync.errors import FieldProblem

ADDRESS_FIELDS = ("street", "city", "region", "postal_code", "country")
TEXT_FIELDS = ("first_name", "last_name", "plan")
MAX_TAGS = 50
CLOCK_SKEW = timedelta(minutes=5)  # a sender's clock may run a little ahead of ours


class CandidateRejected(Exception):
    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("contact rejected")
        self.problems = problems


def build_candidate(
    payload: Mapping[str, Any],
    source: Source,
    now: datetime,
    consent_defaults: Mapping[str, str] | None = None,
) -> Candidate:
    """Map, normalise and validate one payload; raise ``CandidateRejected`` with every problem.

    ``now`` is when the candidate is built (the use case's clock): consent cannot be dated later.
    ``consent_defaults`` (an import job's recorded consent) is evidence for a payload whose mapped
    fields carry no ``consent_basis`` of their own; its other fields fill only what the payload lacks.
    """
    unreadable = _unencodable_text(payload)
    if unreadable:
        raise CandidateRejected(unreadable)  # it could never be stored, sent or shown
    mapping = source.field_mapping
    mapped = map_payload(payload, mapping)
    problems = [FieldProblem(path, message) for path, message in mapped.problems.items()]
    values = mapped.values
    if consent_defaults and "consent_basis" not in values:
        values = {**consent_defaults, **values}
    event_key = source.event_type_path.split(".")[0]
    custom = {key: value for key, value in mapped.custom.items() if key != event_key}

    raw_event = value_at(payload, source.event_type_path)
    event_type = str(raw_event) if raw_event is not None else None
    action = source.action_for(event_type)
    if action is None:
        problems.append(FieldProblem(source.event_type_path, "this source does not handle this event type"))

    profile_values: dict[str, Any] = {}

    def take(name: str, convert: Any) -> None:
        if name not in values or values[name] is None or values[name] == "":
            return
        try:
            profile_values[name] = convert(values[name])
        except (InvalidIdentity, TransformError) as error:
            problems.append(FieldProblem(name, str(error)))

    take("email", lambda raw: normalise_email(_text(raw)))
    take("phone", lambda raw: normalise_phone(_text(raw), mapping.default_country))
    take("language", parse_language)
    take("birthday", lambda raw: parse_date(raw, mapping.date_order))
    for name in TEXT_FIELDS:
        take(name, lambda raw: " ".join(_text(raw).split()) or None)
    take("tags", _string_list)
    address: dict[str, str] = {}
    for name in ADDRESS_FIELDS:
        if values.get(name):
            try:
                address[name] = " ".join(_text(values[name]).split())
            except TransformError as error:
                problems.append(FieldProblem(name, str(error)))

    previous_email = None
    if values.get("previous_email"):
        try:
            previous_email = normalise_email(_text(values["previous_email"]))
        except (InvalidIdentity, TransformError) as error:
            problems.append(FieldProblem("previous_email", str(error)))
    newsletter = None
    if values.get("newsletter") not in (None, ""):
        try:
            newsletter = parse_boolean(values["newsletter"])
        except TransformError as error:
            problems.append(FieldProblem("newsletter", str(error)))
    lists: tuple[str, ...] = ()
    if values.get("lists"):
        try:
            lists = tuple(_string_list(values["lists"]))
        except TransformError as error:
            problems.append(FieldProblem("lists", str(error)))
    consent = _consent(values, problems, now)

    if "email" not in profile_values and "phone" not in profile_values and not problems:
        problems.append(FieldProblem("email", "an email or a phone is required"))
    if problems or action is None:
        raise CandidateRejected(problems)
    sent = frozenset(profile_values) | ({"address"} if address else set())
    try:
        profile = ContactProfile(
            **profile_values,
            address=PostalAddress(**address) if address else None,
            custom_attributes=custom,
        )
    except ValidationError as error:
        raise CandidateRejected(
            [FieldProblem(".".join(str(p) for p in issue["loc"]), issue["msg"]) for issue in error.errors()]
        ) from None
    if "language" not in sent:
        profile = profile.model_copy(update={"language": source.default_language})
    return Candidate(
        action=action,
        profile=profile,
        sent_fields=sent,
        lists=lists,
        consent=consent,
        previous_email=previous_email,
        newsletter=newsletter,
    )


def _text(raw: Any) -> str:
    if isinstance(raw, Mapping | list):
        raise TransformError("expected text, got a structure")
    return str(raw)


def _unencodable_text(payload: Mapping[str, Any]) -> list[FieldProblem]:
    """Where the payload holds text that is not UTF-8: JSON's ``\\ud800`` escapes allow lone surrogates."""
    problems: list[FieldProblem] = []
    pending: deque[tuple[str, Any]] = deque([("", payload)])
    while pending:
        where, value = pending.popleft()
        if isinstance(value, Mapping):
            for key, child in value.items():
                path = f"{where}.{_printable(key)}" if where else _printable(key)
                if not _is_utf8(str(key)):
                    problems.append(FieldProblem(path, "the field name is not valid UTF-8 text"))
                pending.append((path, child))
        elif isinstance(value, list):
            pending.extend((f"{where}[{index}]", child) for index, child in enumerate(value))
        elif isinstance(value, str) and not _is_utf8(value):
            problems.append(FieldProblem(where, "not valid UTF-8 text (it holds a lone surrogate)"))
    return problems


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _printable(key: Any) -> str:
    """A field name fit for a problem path: a lone surrogate in it is shown escaped (``\\ud800``)."""
    return str(key).encode("utf-8", "backslashreplace").decode()


def _string_list(raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else str(raw).replace(";", ",").split(",")
    cleaned = tuple(dict.fromkeys(" ".join(_text(item).split()) for item in items if _text(item).strip()))
    if len(cleaned) > MAX_TAGS or any(len(item) > 100 for item in cleaned):
        raise TransformError(f"at most {MAX_TAGS} items of at most 100 characters")
    return cleaned


def _consent(
    values: Mapping[str, Any], problems: list[FieldProblem], now: datetime
) -> ConsentEvidence | None:
    basis, obtained, method = (values.get(f"consent_{name}") for name in ("basis", "obtained_at", "method"))
    if basis in (None, "") and obtained in (None, "") and method in (None, ""):
        return None
    try:
        expires_at = _instant(values["consent_expires_at"]) if values.get("consent_expires_at") else None
    except (ValueError, OverflowError):
        problems.append(FieldProblem("consent_expires_at", "not an ISO date within range"))
        return None
    try:
        evidence = ConsentEvidence(
            basis=ConsentBasis(str(basis).strip().lower()),
            obtained_at=_instant(obtained),
            method=str(method or "").strip(),
            expires_at=expires_at,
        )
    except (ValueError, OverflowError, ValidationError):
        problems.append(
            FieldProblem(
                "consent",
                "consent evidence needs consent_basis (express or implied), "
                "consent_obtained_at (ISO date) and consent_method",
            )
        )
        return None
    if evidence.obtained_at > now + CLOCK_SKEW:
        # Also keeps the implied expiry (obtained_at + up to 2 years) within datetime's range.
        problems.append(FieldProblem("consent_obtained_at", "must not be in the future"))
        return None
    if evidence.expires_at is not None and evidence.expires_at <= evidence.obtained_at:
        problems.append(FieldProblem("consent_expires_at", "must be after consent_obtained_at"))
        return None
    return evidence


def _instant(raw: Any) -> datetime:
    """An ISO date or date-time, in UTC (naive means UTC); OverflowError when UTC takes it out of range."""
    moment = datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
