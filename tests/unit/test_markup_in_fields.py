"""Script and HTML in any field a person or an operator controls render as text, in pages and mails.

The check is structural: a page rendered with hostile values has exactly the elements and
attributes of the same page rendered with plain values, so nothing a value carries became markup.
"""

from __future__ import annotations

from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from contactsync.domain.source import Branding
from contactsync.mail_rendering import MailIdentity, render_confirmation
from contactsync.pages import render_link_page
from contactsync.use_cases.subscription_links import LinkOutcome, LinkPage

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</title><body onload=alert(1)>",
    "<a href='javascript:alert(1)'>x</a>",
    "{{ 7*7 }}{% raw %}",
    "&lt;script&gt;",
    "<!--",
]
hostile = st.one_of(
    st.sampled_from(PAYLOADS),
    st.builds(
        lambda a, p, b: a + p + b, st.text(max_size=20), st.sampled_from(PAYLOADS), st.text(max_size=20)
    ),
)


class _Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, tuple[str, ...]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, tuple(sorted(name for name, _ in attrs))))

    def handle_comment(self, data: str) -> None:
        self.elements.append(("<!--comment-->", ()))


def structure(html: str) -> list[tuple[str, tuple[str, ...]]]:
    parser = _Structure()
    parser.feed(html)
    parser.close()
    return parser.elements


def page(kind: LinkPage, organisation: str, first_name: str) -> str:
    outcome = LinkOutcome(page=kind, language="fr", organisation=organisation, first_name=first_name)
    return render_link_page(outcome, form_action_url="https://x.example/v1/confirm/TOKEN")


@settings(max_examples=60, deadline=None)
@given(organisation=hostile, first_name=hostile, kind=st.sampled_from(list(LinkPage)))
def test_markup_in_an_organisation_or_a_first_name_is_text_on_every_page(
    organisation: str, first_name: str, kind: LinkPage
) -> None:
    # Given a contact and a source whose names carry markup
    # When any link page is rendered for them
    rendered = page(kind, organisation, first_name)

    # Then the page has the same elements as with plain names: nothing became markup
    assert structure(rendered) == structure(page(kind, "La Coop", "Ada"))


def mail_html(value: str) -> str:
    branding = Branding(
        organisation_name=value,
        from_name=value,
        logo_url="https://cdn.example/logo.png" + value,
        postal_address=value,
        consent_text={"fr": value},
    )
    return render_confirmation(
        to_address="a@b.co",
        first_name=value,
        language="fr",
        branding=branding,
        identity=MailIdentity(
            from_address="news@coop.example", organisation_name=value, postal_address=value
        ),
        confirm_url="https://x.example/v1/confirm/TOKEN",
        unsubscribe_url="https://x.example/v1/unsubscribe/UNSUB",
        one_click_url="https://x.example/v1/unsubscribe/UNSUB",
        is_change=False,
        expiry_days=7,
    ).mail.html_body


@settings(max_examples=60, deadline=None)
@given(value=hostile)
def test_markup_in_every_branding_and_contact_field_is_text_in_the_mail(value: str) -> None:
    # Given a source's branding and a contact where every free-text field carries markup
    # When the confirmation mail is rendered
    # Then its HTML has the same elements and attributes as with plain values
    assert structure(mail_html(value)) == structure(mail_html("La Coop"))
