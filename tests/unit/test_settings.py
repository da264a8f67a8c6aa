import pytest

from contactsync.errors import ConfigurationError
from contactsync.settings import Settings

COMPLETE = {
    "CONTACTSYNC_STAGE": "dev",
    "CONTACTSYNC_CONTACTS_TABLE": "contacts",
    "CONTACTSYNC_IDEMPOTENCY_TABLE": "idempotency",
    "CONTACTSYNC_PUSH_QUEUE_URL": "https://sqs.example/queue",
    "CONTACTSYNC_DESTINATION_SECRET_ID": "arn:secret",
    "CONTACTSYNC_MAIL_QUEUE_URL": "https://sqs.example/mail",
    "CONTACTSYNC_SOURCE_SECRET_ID": "arn:sources",
    "CONTACTSYNC_SUPPRESSION_KEY_SECRET_ID": "arn:suppression",
}


def test_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_environment(COMPLETE)
    assert settings.contacts_table == "contacts"
    assert settings.max_body_bytes == 256 * 1024


def test_a_missing_variable_fails_fast_and_names_it() -> None:
    incomplete = {k: v for k, v in COMPLETE.items() if k != "CONTACTSYNC_CONTACTS_TABLE"}
    with pytest.raises(ConfigurationError, match="CONTACTSYNC_CONTACTS_TABLE"):
        Settings.from_environment(incomplete)
