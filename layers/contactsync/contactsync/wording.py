"""Every sentence people read, in English and French, versioned so the consent record can name it."""

from __future__ import annotations

import hashlib
import json
from typing import Final

SUPPORTED_LANGUAGES: Final = ("en", "fr")
WORDING_VERSION: Final = "2026-11-23"

TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "mail_subject": "Please confirm your subscription to {organisation}",
        "mail_change_subject": "Please confirm the changes to your subscription with {organisation}",
        "mail_greeting": "Hello {first_name},",
        "mail_greeting_anonymous": "Hello,",
        "consent_request": "{organisation} would like to send you news and offers by email. "
        "You can unsubscribe at any time with the link in every message.",
        "change_request": "Someone asked to update the details {organisation} holds about you. "
        "Nothing changes until you confirm.",
        "mail_button": "Yes, subscribe me",
        "mail_change_button": "Confirm the changes",
        "mail_ignore": "If you did not ask for this, ignore this message: you will not be subscribed.",
        "mail_expiry": "This link works once and expires in {days} days.",
        "mail_unsubscribe": "Unsubscribe",
        "mail_sent_by": "Sent by {organisation}",
        "confirm_title": "Confirm your subscription",
        "confirm_change_title": "Confirm the changes",
        "confirm_lead": "Press the button to confirm. Nothing happens until you do.",
        "confirm_button": "Confirm",
        "confirmed_title": "Thank you, you are subscribed",
        "confirmed_body": "Your subscription is confirmed. You can unsubscribe at any time from any of our messages.",
        "changed_title": "Thank you, your details are updated",
        "changed_body": "The changes are confirmed.",
        "unsubscribe_title": "Unsubscribe",
        "unsubscribe_lead": "Press the button and you will receive no more messages from {organisation}.",
        "unsubscribe_button": "Unsubscribe",
        "unsubscribed_title": "You are unsubscribed",
        "unsubscribed_body": "You will receive no more messages from {organisation}. "
        "If this was a mistake, you can sign up again at any time.",
        "invalid_title": "This link no longer works",
        "invalid_body": "The link may have expired, been used already, or been copied incompletely.",
        "resend_button": "Send me a new link",
        "resend_done_title": "Check your inbox",
        "resend_done_body": "If this link belonged to a pending subscription, a new confirmation mail is on its way.",
    },
    "fr": {
        "mail_subject": "Veuillez confirmer votre abonnement à {organisation}",
        "mail_change_subject": "Veuillez confirmer les changements à votre abonnement auprès de {organisation}",
        "mail_greeting": "Bonjour {first_name},",
        "mail_greeting_anonymous": "Bonjour,",
        "consent_request": "{organisation} souhaite vous envoyer des nouvelles et des offres par courriel. "
        "Vous pouvez vous désabonner en tout temps avec le lien présent dans chaque message.",
        "change_request": "Quelqu'un a demandé de mettre à jour les renseignements que {organisation} détient "
        "à votre sujet. Rien ne change tant que vous ne confirmez pas.",
        "mail_button": "Oui, je m'abonne",
        "mail_change_button": "Confirmer les changements",
        "mail_ignore": "Si vous n'avez rien demandé, ignorez ce message : vous ne serez pas abonné.",
        "mail_expiry": "Ce lien ne fonctionne qu'une fois et expire dans {days} jours.",
        "mail_unsubscribe": "Se désabonner",
        "mail_sent_by": "Envoyé par {organisation}",
        "confirm_title": "Confirmez votre abonnement",
        "confirm_change_title": "Confirmez les changements",
        "confirm_lead": "Appuyez sur le bouton pour confirmer. Rien ne se passe tant que vous ne le faites pas.",
        "confirm_button": "Confirmer",
        "confirmed_title": "Merci, votre abonnement est confirmé",
        "confirmed_body": "Votre abonnement est confirmé. Vous pouvez vous désabonner en tout temps depuis nos messages.",
        "changed_title": "Merci, vos renseignements sont à jour",
        "changed_body": "Les changements sont confirmés.",
        "unsubscribe_title": "Désabonnement",
        "unsubscribe_lead": "Appuyez sur le bouton et vous ne recevrez plus de messages de {organisation}.",
        "unsubscribe_button": "Me désabonner",
        "unsubscribed_title": "Vous êtes désabonné",
        "unsubscribed_body": "Vous ne recevrez plus de messages de {organisation}. "
        "S'il s'agit d'une erreur, vous pouvez vous réinscrire en tout temps.",
        "invalid_title": "Ce lien ne fonctionne plus",
        "invalid_body": "Le lien a peut-être expiré, déjà servi, ou été copié en partie.",
        "resend_button": "Envoyez-moi un nouveau lien",
        "resend_done_title": "Consultez votre boîte de réception",
        "resend_done_body": "Si ce lien appartenait à un abonnement en attente, un nouveau courriel de "
        "confirmation est en route.",
    },
}


def language_or_default(language: str | None) -> str:
    return language if language in SUPPORTED_LANGUAGES else "en"


def texts_for(language: str | None) -> dict[str, str]:
    return TEXTS[language_or_default(language)]


def consent_wording_sha256(language: str, consent_text: str) -> str:
    """The hash the consent record keeps of the exact request the person read."""
    canonical = json.dumps(
        {"version": WORDING_VERSION, "language": language, "text": consent_text}, sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
