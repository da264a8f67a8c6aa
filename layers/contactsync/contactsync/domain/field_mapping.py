"""Field mapping: from whatever a source sends to the canonical contact fields.

A source maps dotted paths of its payload (``member.user.email``) to canonical
fields, with transforms. Email and name fields are recognised without a
mapping, in English and French. Every transform raises ``TransformError`` (a
``ValueError``) on input it cannot read, never anything else.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contactsync.domain.identity import InvalidIdentity, normalise_phone

CANONICAL_FIELDS = frozenset(
    {
        "email",
        "phone",
        "first_name",
        "last_name",
        "full_name",
        "language",
        "birthday",
        "plan",
        "tags",
        "lists",
        "newsletter",
        "street",
        "city",
        "region",
        "postal_code",
        "country",
        "previous_email",
        "consent_basis",
        "consent_obtained_at",
        "consent_method",
        "consent_expires_at",
    }
)

# Recognised without a mapping (keys compared after folding case, accents and separators).
_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "e_mail", "email_address", "emailaddress", "mail", "courriel", "adresse_courriel"),
    "first_name": ("first_name", "firstname", "fname", "given_name", "prenom"),
    "last_name": ("last_name", "lastname", "lname", "surname", "family_name", "nom_de_famille", "nom"),
    "full_name": ("name", "full_name", "fullname", "nom_complet"),
    "phone": ("phone", "phone_number", "mobile", "telephone", "tel", "cellulaire"),
    "language": ("language", "lang", "locale", "langue"),
    "newsletter": ("newsletter", "infolettre", "opt_in", "optin", "marketing_opt_in", "accepts_marketing"),
    "previous_email": ("previous_email", "old_email", "ancien_courriel"),
    "birthday": ("birthday", "birthdate", "date_of_birth", "dob", "date_de_naissance", "naissance"),
    "plan": ("plan", "membership", "forfait", "abonnement"),
    "street": ("street", "address", "address1", "adresse", "rue"),
    "city": ("city", "town", "ville"),
    "region": ("region", "province", "state", "etat"),
    "postal_code": ("postal_code", "postcode", "zip", "zip_code", "code_postal"),
    "country": ("country", "pays"),
}
ALIAS_TO_FIELD = {alias: target for target, aliases in _ALIASES.items() for alias in aliases}


class TransformError(ValueError):
    """A value a transform cannot read; the message never repeats the value."""


class DateOrder(StrEnum):
    ISO = "iso"
    DAY_FIRST = "dd/mm/yyyy"
    MONTH_FIRST = "mm/dd/yyyy"


class Transform(StrEnum):
    TRIM = "trim"
    LOWER = "lower"
    UPPER = "upper"
    TITLE = "title"
    DATE = "date"
    PHONE = "phone"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    LANGUAGE = "language"
    SPLIT = "split"  # a comma- or semicolon-separated list


class FieldRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source_path: str = Field(
        min_length=1, max_length=200, pattern=r"^[^.\s].*$", description="dotted path or header"
    )
    target: str = Field(description="a canonical field, or custom.<name> for a custom attribute")
    transforms: tuple[Transform, ...] = ()


class FieldMapping(BaseModel):
    """How one source's payloads map to canonical fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[FieldRule, ...] = ()
    date_order: DateOrder = DateOrder.ISO
    default_country: str = Field(default="CA", pattern=r"^[A-Z]{2}$")
    keep_unmapped: bool = Field(default=True, description="unmapped fields become custom attributes")


@lru_cache(maxsize=4096)
def fold_key(key: str) -> str:
    """``Prénom`` -> ``prenom``, ``E-mail Address`` -> ``e_mail_address``.

    Cached: every record of a source repeats the same few keys.
    """
    plain = unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_")


def value_at(document: Mapping[str, Any], dotted_path: str) -> Any:
    """The value at ``a.b.0.c`` (list indexes allowed), or None when any step is missing."""
    current: Any = document
    for step in dotted_path.split("."):
        if isinstance(current, Mapping):
            current = current.get(step)
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        else:
            return None
        if current is None:
            return None
    return current


def split_full_name(full_name: str) -> tuple[str | None, str | None]:
    """``Ada King Lovelace`` -> (``Ada``, ``King Lovelace``); ``Lovelace, Ada`` -> (``Ada``, ``Lovelace``)."""
    cleaned = " ".join(full_name.split())
    if not cleaned:
        return None, None
    if "," in cleaned:
        last, _, first = cleaned.partition(",")
        return (first.strip() or None), (last.strip() or None)
    first, _, rest = cleaned.partition(" ")
    return first, (rest or None)


def parse_date(raw: Any, order: DateOrder) -> str:
    """A date as ISO ``yyyy-mm-dd``, read in the source's order."""
    if isinstance(raw, datetime):
        return raw.date().isoformat()
    if isinstance(raw, date):
        return raw.isoformat()
    text = str(raw).strip()
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?", text)
    try:
        if iso:
            return date(int(iso[1]), int(iso[2]), int(iso[3])).isoformat()
        parts = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
        if parts and order is not DateOrder.ISO:
            first, second, year = int(parts[1]), int(parts[2]), int(parts[3])
            day, month = (first, second) if order is DateOrder.DAY_FIRST else (second, first)
            return date(year, month, day).isoformat()
    except ValueError:
        raise TransformError("not a valid date") from None
    raise TransformError(f"not a date in the {order.value} format")


_CURRENCY = re.compile(r"[\s$€£¥]|CAD|USD|EUR|GBP", re.IGNORECASE)


def parse_decimal(raw: Any) -> str:
    """``1 234,50 $`` or ``$1,234.50`` -> ``1234.50``."""
    if isinstance(raw, bool):
        raise TransformError("not a number")
    if isinstance(raw, int | float | Decimal):
        return str(Decimal(str(raw)))
    text = _CURRENCY.sub("", str(raw)).replace("\u00a0", "")
    if "," in text and "." in text:
        # The last separator is the decimal one; the other groups thousands.
        text = (
            text.replace(",", "")
            if text.rfind(".") > text.rfind(",")
            else text.replace(".", "").replace(",", ".")
        )
    elif text.count(",") == 1 and len(text.split(",")[1]) != 3:
        text = text.replace(",", ".")
    else:
        text = text.replace(",", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise TransformError("not a number") from None
    if not value.is_finite():
        raise TransformError("not a finite number")
    return str(value)


_TRUE = frozenset({"true", "yes", "y", "1", "on", "oui", "o", "vrai", "checked", "x"})
_FALSE = frozenset({"false", "no", "n", "0", "off", "non", "faux", "unchecked", ""})


def parse_boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = fold_key(str(raw))
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise TransformError("not a yes/no value")


_LANGUAGES = {
    "en": ("en", "eng", "english", "anglais"),
    "fr": ("fr", "fre", "fra", "french", "francais"),
    "es": ("es", "spa", "spanish", "espagnol", "espanol"),
    "de": ("de", "ger", "deu", "german", "allemand", "deutsch"),
    "it": ("it", "ita", "italian", "italien", "italiano"),
    "pt": ("pt", "por", "portuguese", "portugais", "portugues"),
    "nl": ("nl", "dut", "nld", "dutch", "neerlandais", "nederlands"),
}
_LANGUAGE_BY_NAME = {name: code for code, names in _LANGUAGES.items() for name in names}


def parse_language(raw: Any) -> str:
    """``French``, ``fr-CA``, ``français``, ``FRA`` -> ``fr``."""
    text = fold_key(str(raw))
    primary = text.split("_")[0]
    for candidate in (text, primary):
        if candidate in _LANGUAGE_BY_NAME:
            return _LANGUAGE_BY_NAME[candidate]
    if re.fullmatch(r"[a-z]{2}", primary):
        return primary
    raise TransformError("not a known language")


def _text(raw: Any) -> str:
    if isinstance(raw, Mapping | list):
        raise TransformError("expected text, got a structure")
    return str(raw)


def apply_transform(transform: Transform, value: Any, mapping: FieldMapping) -> Any:
    steps: dict[Transform, Callable[[Any], Any]] = {
        Transform.TRIM: lambda v: " ".join(_text(v).split()),
        Transform.LOWER: lambda v: _text(v).lower(),
        Transform.UPPER: lambda v: _text(v).upper(),
        Transform.TITLE: lambda v: _text(v).title(),
        Transform.DATE: lambda v: parse_date(v, mapping.date_order),
        Transform.PHONE: lambda v: _phone(v, mapping.default_country),
        Transform.DECIMAL: parse_decimal,
        Transform.BOOLEAN: parse_boolean,
        Transform.LANGUAGE: parse_language,
        Transform.SPLIT: lambda v: (
            v if isinstance(v, list) else [p.strip() for p in re.split(r"[,;]", _text(v)) if p.strip()]
        ),
    }
    return steps[transform](value)


def _phone(raw: Any, country: str) -> str:
    try:
        return normalise_phone(_text(raw), country)
    except InvalidIdentity as error:
        raise TransformError(str(error)) from None


class MappedFields(BaseModel):
    """The result of mapping one payload: canonical values, custom attributes, problems by path."""

    values: dict[str, Any] = Field(default_factory=dict)
    custom: dict[str, str] = Field(default_factory=dict)
    problems: dict[str, str] = Field(default_factory=dict)


def map_payload(payload: Mapping[str, Any], mapping: FieldMapping) -> MappedFields:
    """Apply the rules, then recognise well-known keys, then keep or drop the rest."""
    result = MappedFields()
    used_keys: set[str] = set()
    for rule in mapping.rules:
        raw = value_at(payload, rule.source_path)
        used_keys.add(rule.source_path.split(".")[0])
        if raw is None or raw == "":
            continue
        try:
            value = raw
            for transform in rule.transforms:
                value = apply_transform(transform, value, mapping)
        except TransformError as error:
            result.problems[rule.source_path] = str(error)
            continue
        _assign(result, rule.target, value)
    for key, raw in payload.items():
        if key in used_keys or raw is None or raw == "":
            continue
        folded = fold_key(key)
        target = ALIAS_TO_FIELD.get(folded)
        if target is None and folded in CANONICAL_FIELDS:
            target = folded
        if target is not None and target not in result.values:
            if isinstance(raw, Mapping | list) and target not in {"tags", "lists"}:
                result.problems[key] = "expected text, got a structure"
                continue
            _assign(result, target, raw)
        elif target is None and mapping.keep_unmapped and not isinstance(raw, Mapping | list):
            if not str(key).strip():
                result.problems["(empty field name)"] = "a field needs a name to be kept"
                continue
            result.custom.setdefault(str(key)[:100], str(raw)[:2000])
    full_name = result.values.pop("full_name", None)
    if isinstance(full_name, str):
        first, last = split_full_name(full_name)
        result.values.setdefault("first_name", first)
        result.values.setdefault("last_name", last)
    return result


def _assign(result: MappedFields, target: str, value: Any) -> None:
    if target.startswith("custom."):
        result.custom[target.removeprefix("custom.")[:100]] = str(value)[:2000]
    else:
        result.values[target] = value
