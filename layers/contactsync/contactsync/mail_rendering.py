"""Confirmation mails: multipart text and HTML, in the contact's language, autoescaped Jinja2."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from contactsync.domain.source import Branding
from contactsync.models.outgoing_mail import OutgoingMail
from contactsync.wording import consent_wording_sha256, language_or_default, texts_for


@dataclass(frozen=True)
class ConfirmationMail:
    mail: OutgoingMail
    wording_sha256: str
    language: str


@dataclass(frozen=True)
class MailIdentity:
    """The organisation's defaults, which a source's branding may override."""

    from_address: str
    organisation_name: str
    postal_address: str


@lru_cache(maxsize=1)
def _html_environment() -> Environment:
    return Environment(
        loader=PackageLoader("contactsync", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
    )


@lru_cache(maxsize=1)
def _text_environment() -> Environment:
    # Plain text has no markup to escape; nothing in it is ever interpreted as HTML.
    return Environment(
        loader=PackageLoader("contactsync", "templates"),
        autoescape=False,  # noqa: S701 - text/plain part
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render_confirmation(
    *,
    to_address: str,
    first_name: str | None,
    language: str | None,
    branding: Branding,
    identity: MailIdentity,
    confirm_url: str,
    unsubscribe_url: str,
    one_click_url: str,
    is_change: bool,
    expiry_days: int,
) -> ConfirmationMail:
    lang = language_or_default(language)
    texts = texts_for(lang)
    organisation = branding.organisation_name or identity.organisation_name
    request_text = branding.consent_text.get(lang) or texts["consent_request"].format(
        organisation=organisation
    )
    if is_change:
        request_text = texts["change_request"].format(organisation=organisation)
    subject_key = "mail_change_subject" if is_change else "mail_subject"
    values = {
        "lang": lang,
        "subject": texts[subject_key].format(organisation=organisation),
        "greeting": texts["mail_greeting"].format(first_name=first_name)
        if first_name
        else texts["mail_greeting_anonymous"],
        "request_text": request_text,
        "button": texts["mail_change_button" if is_change else "mail_button"],
        "confirm_url": confirm_url,
        "expiry": texts["mail_expiry"].format(days=expiry_days),
        "ignore": texts["mail_ignore"],
        "sent_by": texts["mail_sent_by"].format(organisation=organisation),
        "postal_address": branding.postal_address or identity.postal_address,
        "unsubscribe": texts["mail_unsubscribe"],
        "unsubscribe_url": unsubscribe_url,
        "logo_url": branding.logo_url,
        "organisation": organisation,
    }
    mail = OutgoingMail(
        to_address=to_address,
        from_address=identity.from_address,
        from_name=branding.from_name or organisation,
        subject=values["subject"] or "",
        text_body=_text_environment().get_template("mail/confirmation.txt").render(**values),
        html_body=_html_environment().get_template("mail/confirmation.html").render(**values),
        headers={
            # RFC 2369 and RFC 8058: mail clients offer a one-click unsubscribe that POSTs here.
            "List-Unsubscribe": f"<{one_click_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    return ConfirmationMail(
        mail=mail, wording_sha256=consent_wording_sha256(lang, request_text), language=lang
    )
