"""Pages people see from their mail links, rendered with autoescaped Jinja2 in English or French."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from contactsync.use_cases.subscription_links import LinkOutcome, LinkPage
from contactsync.wording import language_or_default, texts_for


@dataclass(frozen=True)
class PageText:
    title_key: str
    body_key: str | None = None
    button_key: str | None = None
    action: str | None = None  # the form's hidden action field


PAGE_TEXTS: dict[LinkPage, PageText] = {
    LinkPage.CONFIRM: PageText("confirm_title", "confirm_lead", "confirm_button", "confirm"),
    LinkPage.CONFIRM_CHANGE: PageText("confirm_change_title", "confirm_lead", "confirm_button", "confirm"),
    LinkPage.CONFIRMED: PageText("confirmed_title", "confirmed_body"),
    LinkPage.CHANGED: PageText("changed_title", "changed_body"),
    LinkPage.UNSUBSCRIBE: PageText(
        "unsubscribe_title", "unsubscribe_lead", "unsubscribe_button", "unsubscribe"
    ),
    LinkPage.UNSUBSCRIBED: PageText("unsubscribed_title", "unsubscribed_body"),
    LinkPage.INVALID: PageText("invalid_title", "invalid_body", "resend_button", "resend"),
    LinkPage.RESEND_REQUESTED: PageText("resend_done_title", "resend_done_body"),
}


@lru_cache(maxsize=1)
def page_environment() -> Environment:
    return Environment(
        loader=PackageLoader("contactsync", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
    )


def render_link_page(outcome: LinkOutcome, form_action_url: str | None) -> str:
    lang = language_or_default(outcome.language)
    texts = texts_for(lang)
    spec = PAGE_TEXTS[outcome.page]
    organisation = outcome.organisation or ""
    return (
        page_environment()
        .get_template("pages/link.html")
        .render(
            lang=lang,
            title=texts[spec.title_key].format(organisation=organisation),
            body=texts[spec.body_key].format(organisation=organisation) if spec.body_key else "",
            button=texts[spec.button_key] if spec.button_key and form_action_url is not None else None,
            action=spec.action,
            form_action_url=form_action_url,
            organisation=organisation,
            greeting=texts["mail_greeting"].format(first_name=outcome.first_name)
            if outcome.first_name
            else None,
        )
    )


def render_link_invalid_page(language: str) -> str:
    return render_link_page(LinkOutcome(page=LinkPage.INVALID, language=language), form_action_url=None)
