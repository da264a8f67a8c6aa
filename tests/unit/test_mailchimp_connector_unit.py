"""The Mailchimp connector's pure parts: subscriber hash, statuses, which items are batched; the session."""

from __future__ import annotations

import pytest
from requests.adapters import HTTPAdapter

from contactsync.adapters.http_sessions import ShortRetryAfterRetry, retrying_session
from contactsync.adapters.mailchimp_connector import MailchimpConnector, _status_fields, subscriber_hash
from contactsync.domain.change import ChangeKind
from contactsync.domain.delivery import MemberStatus, OutboundItem
from contactsync.domain.destination import MailchimpSettings

SETTINGS = MailchimpSettings.model_validate({"api_url": "https://us1.api.mailchimp.com/3.0", "list_id": "a1"})


def item(number: int, **extra: object) -> OutboundItem:
    values: dict[str, object] = {
        "contact_id": f"c{number}",
        "version": 1,
        "kind": ChangeKind.UPDATED,
        "email": f"p{number}@example.com",
        "status": MemberStatus.SUBSCRIBED,
    }
    values.update(extra)
    return OutboundItem.model_validate(values)


def test_the_subscriber_hash_is_the_md5_of_the_lowercased_address() -> None:
    assert subscriber_hash("Urist.McVankab@FreddieMacs.com") == "ecbefbfccf8d57d3471118396b791bff"
    assert subscriber_hash("a@example.com") == subscriber_hash("A@EXAMPLE.COM")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (MemberStatus.SUBSCRIBED, {"status": "subscribed", "status_if_new": "pending"}),
        (MemberStatus.UNSUBSCRIBED, {"status": "unsubscribed", "status_if_new": "unsubscribed"}),
        (MemberStatus.PENDING, {"status": "pending", "status_if_new": "pending"}),
        (MemberStatus.NOT_SUBSCRIBED, {"status_if_new": "transactional"}),
    ],
)
def test_statuses_follow_the_audience_setting_for_new_members(
    status: MemberStatus, expected: dict[str, str]
) -> None:
    settings = SETTINGS.model_copy(update={"status_if_new": "pending"})
    assert _status_fields(status, settings) == expected


def test_only_plain_upserts_of_distinct_contacts_are_batched() -> None:
    items = [
        item(1),
        item(2, erase=True, previous_remote_id="abc"),
        item(3, previous_remote_id=subscriber_hash("old@example.com")),  # email change
        item(4, previous_remote_id=subscriber_hash("p4@example.com")),  # same address: plain
        item(5, status=MemberStatus.NOT_SUBSCRIBED),  # needs status_if_new only
        item(6),
        item(6, version=2),  # the same contact twice: in order, one by one
    ]
    batched, single = MailchimpConnector._plan(SETTINGS, items)
    assert batched == [0, 3]
    assert single == [1, 2, 4, 5, 6]


def test_a_single_plain_upsert_is_not_batched() -> None:
    assert MailchimpConnector._plan(SETTINGS, [item(1), item(2, erase=True)]) == ([], [0, 1])


def test_the_session_bounds_its_pool_and_caps_retry_after() -> None:
    session = retrying_session(pool_size=7)
    adapter = session.get_adapter("https://us1.api.mailchimp.com/3.0")
    assert isinstance(adapter, HTTPAdapter)
    pool_settings = adapter.poolmanager.connection_pool_kw
    assert (pool_settings["maxsize"], pool_settings["block"]) == (7, True)
    retry = adapter.max_retries
    assert isinstance(retry, ShortRetryAfterRetry)
    assert retry.max_retry_after == 5.0
    assert retry.allowed_methods is None
    assert retry.raise_on_status is False
    assert isinstance(retry.new(total=1), ShortRetryAfterRetry)
    assert retry.new(total=1).max_retry_after == 5.0
    with pytest.raises(ValueError, match="pool_size"):
        retrying_session(pool_size=0)
