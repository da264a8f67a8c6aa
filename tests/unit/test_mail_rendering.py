from contactsync.domain.source import Branding
from contactsync.mail_rendering import MailIdentity, render_confirmation

IDENTITY = MailIdentity(
    from_address="news@coop.example", organisation_name="La Coop", postal_address="1 rue X, Montréal"
)


def render(**overrides: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "to_address": "a@b.co",
        "first_name": "Ada",
        "language": "en",
        "branding": Branding(),
        "identity": IDENTITY,
        "confirm_url": "https://x.example/v1/confirm/TOKEN",
        "unsubscribe_url": "https://x.example/v1/unsubscribe/UNSUB",
        "one_click_url": "https://x.example/v1/unsubscribe/UNSUB",
        "is_change": False,
        "expiry_days": 7,
    }
    values.update(overrides)
    return render_confirmation(**values)  # type: ignore[arg-type]


def test_mail_speaks_the_contacts_language_and_carries_casl_identification() -> None:
    rendered = render(language="fr")
    mail = rendered.mail
    assert rendered.language == "fr"
    assert mail.subject.startswith("Veuillez confirmer")
    for body in (mail.text_body, mail.html_body):
        assert "https://x.example/v1/confirm/TOKEN" in body
        assert "https://x.example/v1/unsubscribe/UNSUB" in body
        assert "1 rue X, Montréal" in body
        assert "La Coop" in body


def test_one_click_unsubscribe_headers() -> None:
    headers = render().mail.headers
    assert headers["List-Unsubscribe"] == "<https://x.example/v1/unsubscribe/UNSUB>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_markup_in_a_name_is_escaped_in_html_and_plain_in_text() -> None:
    mail = render(first_name="<script>alert(1)</script>").mail
    assert "<script>" not in mail.html_body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mail.html_body
    assert "Hello <script>alert(1)</script>," in mail.text_body


def test_source_branding_overrides_the_organisation_and_wording_hash_follows_the_text() -> None:
    plain = render()
    branded = render(branding=Branding(organisation_name="Shop", consent_text={"en": "Shop news, monthly."}))
    assert "Shop news, monthly." in branded.mail.text_body
    assert branded.mail.from_name == "Shop"
    assert branded.wording_sha256 != plain.wording_sha256
