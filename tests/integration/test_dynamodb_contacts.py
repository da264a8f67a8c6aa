"""DynamoContactRepository against DynamoDB Local, on the contacts table of template.yaml."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
from contactsync.domain.contact import Contact, ContactProfile, SubscriptionStatus, identity_key_for
from tests.integration.provisioned_stack import ProvisionedStack, provision_for_module

if TYPE_CHECKING:
    from contactsync_ops.local_stack.endpoints import LocalEndpoints

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def stack(local_endpoints: LocalEndpoints) -> ProvisionedStack:
    return provision_for_module(local_endpoints, "contacts")


@pytest.fixture(scope="module")
def repository(stack: ProvisionedStack) -> DynamoContactRepository:
    return DynamoContactRepository(stack.dynamodb, stack.contacts_table)


def unique_email(label: str = "person") -> str:
    return f"{label}.{uuid.uuid4().hex[:10]}@example.com"


def new_contact(email: str | None = None, first_name: str = "Ada", version: int = 1) -> Contact:
    profile = ContactProfile(email=email or unique_email(), first_name=first_name)
    return Contact(
        contact_id=uuid.uuid4().hex,
        identity_key=identity_key_for(profile),
        profile=profile,
        status=SubscriptionStatus.PENDING,
        lists={"newsletter": SubscriptionStatus.PENDING},
        source_id="shop",
        version=version,
        created_at=AT,
        updated_at=AT,
    )


def count_profiles(stack: ProvisionedStack, contact_ids: list[str]) -> int:
    keys: list[dict[str, Any]] = [
        {"pk": {"S": f"CONTACT#{cid}"}, "sk": {"S": "PROFILE"}} for cid in contact_ids
    ]
    found = 0
    for start in range(0, len(keys), 100):
        response = stack.dynamodb.batch_get_item(
            RequestItems={stack.contacts_table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
        )
        assert not response.get("UnprocessedKeys")
        found += len(response["Responses"][stack.contacts_table])
    return found


def test_create_claims_the_identity(stack: ProvisionedStack, repository: DynamoContactRepository) -> None:
    # Given a stored contact
    first = new_contact()
    assert repository.create(first) is True

    # When another contact with the same identity is created
    twin = new_contact(email=first.profile.email, first_name="Grace")
    created = repository.create(twin)

    # Then it is refused and only the first contact exists, still found by the identity
    assert created is False
    assert count_profiles(stack, [first.contact_id, twin.contact_id]) == 1
    found = repository.find_by_identity(first.identity_key)
    assert found == first


def test_find_by_identity_of_nobody_is_none(repository: DynamoContactRepository) -> None:
    # Given an identity nobody claimed / When it is looked up / Then nothing is found
    assert repository.find_by_identity(f"EMAIL#{unique_email('nobody')}") is None


def test_update_with_a_stale_version_is_refused(repository: DynamoContactRepository) -> None:
    # Given a contact updated once, from version 1 to 2
    original = new_contact()
    assert repository.create(original)
    second = original.with_profile(ContactProfile(email=original.profile.email, first_name="Ada2"), AT)
    assert repository.update(second, expected_version=1) is True

    # When someone who still holds version 1 writes
    stale = original.with_profile(ContactProfile(email=original.profile.email, first_name="Stale"), AT)
    updated = repository.update(stale, expected_version=1)

    # Then the write is refused and the stored contact is version 2
    assert updated is False
    stored = repository.find_by_identity(original.identity_key)
    assert stored is not None
    assert stored.version == 2
    assert stored.profile.first_name == "Ada2"


def test_get_many_reads_more_than_one_batch(
    stack: ProvisionedStack, repository: DynamoContactRepository
) -> None:
    # Given 250 stored contacts (more than one BatchGetItem of 100)
    contacts = [new_contact(first_name=f"N{i}") for i in range(250)]
    assert repository.create_many(contacts) == []
    calls: list[int] = []

    def count_call(params: dict[str, Any], **_: Any) -> None:
        calls.append(len(params["RequestItems"][stack.contacts_table]["Keys"]))

    client = stack.endpoints.dynamodb_client()
    client.meta.events.register("provide-client-params.dynamodb.BatchGetItem", count_call)
    reader = DynamoContactRepository(client, stack.contacts_table)

    # When all of them, plus an unknown id and a repeated one, are read at once
    ids = [contact.contact_id for contact in contacts]
    found = reader.get_many([*ids, "no-such-contact", ids[0]])

    # Then every stored contact comes back, as stored, in three requests of at most 100 keys
    # (sent together, so in any order)
    assert found == {contact.contact_id: contact for contact in contacts}
    assert sorted(calls, reverse=True) == [100, 100, 51]


def test_find_many_by_identity(repository: DynamoContactRepository) -> None:
    # Given three stored contacts
    contacts = [new_contact() for _ in range(3)]
    assert repository.create_many(contacts) == []
    unknown = f"EMAIL#{unique_email('unknown')}"

    # When their identities and an unknown one are looked up together
    found = repository.find_many_by_identity([c.identity_key for c in contacts] + [unknown])

    # Then each known identity maps to its contact, the unknown one is absent
    assert found == {c.identity_key: c for c in contacts}


def test_create_many_writes_120_contacts(
    stack: ProvisionedStack, repository: DynamoContactRepository
) -> None:
    # Given 120 new contacts (more than one transaction of 50 contacts)
    contacts = [new_contact() for _ in range(120)]

    # When they are created at once
    not_created = repository.create_many(contacts)

    # Then all are stored and each is found by its identity
    assert not_created == []
    assert count_profiles(stack, [c.contact_id for c in contacts]) == 120
    found = repository.find_many_by_identity([c.identity_key for c in contacts])
    assert set(found) == {c.identity_key for c in contacts}


def test_create_many_is_all_or_nothing_per_transaction(
    stack: ProvisionedStack, repository: DynamoContactRepository
) -> None:
    # Given an existing contact, and 120 new contacts of which number 70 (in the second chunk of 50)
    # has that contact's identity
    existing = new_contact()
    assert repository.create(existing)
    contacts = [new_contact() for _ in range(120)]
    contacts[70] = new_contact(email=existing.profile.email)

    # When they are created at once
    not_created = repository.create_many(contacts)

    # Then the whole second chunk (50..99) is reported and none of it was written
    second_chunk = contacts[50:100]
    assert [c.contact_id for c in not_created] == [c.contact_id for c in second_chunk]
    assert count_profiles(stack, [c.contact_id for c in second_chunk]) == 0
    assert repository.find_many_by_identity([c.identity_key for c in second_chunk]) == {
        existing.identity_key: existing
    }
    # And the first and third chunks are stored
    others = contacts[:50] + contacts[100:]
    assert count_profiles(stack, [c.contact_id for c in others]) == 70


def test_update_many(repository: DynamoContactRepository) -> None:
    # Given three stored contacts at version 1
    contacts = [new_contact() for _ in range(3)]
    assert repository.create_many(contacts) == []
    renamed = [
        c.with_profile(ContactProfile(email=c.profile.email, first_name="Renamed"), AT) for c in contacts
    ]

    # When all three are updated from version 1
    not_updated = repository.update_many([(c, 1) for c in renamed])

    # Then all are stored at version 2 with the new name
    assert not_updated == []
    stored = repository.get_many([c.contact_id for c in contacts])
    assert {c.version for c in stored.values()} == {2}
    assert {c.profile.first_name for c in stored.values()} == {"Renamed"}

    # And a second update that expects version 1 again is refused as a whole
    again = [c.with_profile(ContactProfile(email=c.profile.email, first_name="Again"), AT) for c in renamed]
    assert [c.contact_id for c in repository.update_many([(c, 1) for c in again])] == [
        c.contact_id for c in again
    ]
    assert {c.profile.first_name for c in repository.get_many([c.contact_id for c in contacts]).values()} == {
        "Renamed"
    }


def move_to(contact: Contact, email: str) -> Contact:
    profile = ContactProfile(email=email, first_name=contact.profile.first_name)
    moved = contact.with_profile(profile, AT)
    return moved.model_copy(update={"identity_key": identity_key_for(profile)})


def test_move_identity_moves_the_guard(repository: DynamoContactRepository) -> None:
    # Given a stored contact
    contact = new_contact()
    assert repository.create(contact)

    # When its email changes to a free address
    moved = move_to(contact, unique_email("new"))
    done = repository.move_identity(moved, contact.identity_key, expected_version=1)

    # Then the new identity finds it (at version 2) and the old one finds nothing
    assert done is True
    assert repository.find_by_identity(moved.identity_key) == moved
    assert repository.find_by_identity(contact.identity_key) is None


def test_move_identity_to_a_taken_identity_fails(repository: DynamoContactRepository) -> None:
    # Given two stored contacts
    contact, other = new_contact(), new_contact()
    assert repository.create_many([contact, other]) == []

    # When the first one's email changes to the second one's address
    moved = move_to(contact, other.profile.email or "")
    done = repository.move_identity(moved, contact.identity_key, expected_version=1)

    # Then the move is refused and both identities still find their own contact, unchanged
    assert done is False
    assert repository.find_by_identity(contact.identity_key) == contact
    assert repository.find_by_identity(other.identity_key) == other
