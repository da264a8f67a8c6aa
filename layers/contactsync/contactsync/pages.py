"""Pages people see (confirm, unsubscribe, invalid link), rendered with autoescaped Jinja2."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

SUPPORTED_LANGUAGES = ("en", "fr")

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "invalid_title": "This link no longer works",
        "invalid_body": (
            "The link may have expired, been used already, or been copied incompletely. "
            "If you still want to hear from us, sign up again and we will send you a new link."
        ),
    },
    "fr": {
        "invalid_title": "Ce lien ne fonctionne plus",
        "invalid_body": (
            "Le lien a peut-être expiré, déjà servi, ou été copié en partie. "
            "Si vous souhaitez toujours recevoir nos messages, inscrivez-vous à nouveau "
            "et nous vous enverrons un nouveau lien."
        ),
    },
}


@lru_cache(maxsize=1)
def page_environment() -> Environment:
    return Environment(
        loader=PackageLoader("contactsync", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
    )


def supported_language(language: str | None) -> str:
    return language if language in SUPPORTED_LANGUAGES else "en"


def render_link_invalid_page(language: str) -> str:
    lang = supported_language(language)
    texts = TEXTS[lang]
    return (
        page_environment()
        .get_template("pages/message.html")
        .render(lang=lang, title=texts["invalid_title"], body=texts["invalid_body"])
    )
