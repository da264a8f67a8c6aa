"""Configuration items (sources, destinations, jobs) and guard items (suppression, rate) in DynamoDB Local."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from contactsync.adapters.dynamodb_configuration import (
    DynamoDestinationRepository,
    DynamoSourceRepository,
)
from contactsync.adapters.dynamodb_guards import DynamoRateLimiter, DynamoSuppressionList
from contactsync.adapters.dynamodb_import_jobs import DynamoImportJobs
from contactsync.domain.destination import Destination, DestinationType
from contactsync.domain.field_mapping import DateOrder, FieldMapping, FieldRule, Transform
from contactsync.domain.import_jobs import ImportJob, S3CsvSourceSettings
from contactsync.domain.source import ConsentMode, Source, TokenHash, hash_token
from tests.integration.provisioned_stack import ProvisionedStack, provision_for_module

if TYPE_CHECKING:
    from contactsync_ops.local_stack.endpoints import LocalEndpoints

pytestmark = pytest.mark.integration

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SUPPRESSION_KEY = b"integration-test-suppression-key"


@pytest.fixture(scope="module")
def stack(local_endpoints: LocalEndpoints) -> ProvisionedStack:
    return provision_for_module(local_endpoints, "config")


@pytest.fixture(scope="module")
def empty_stack(local_endpoints: LocalEndpoints) -> ProvisionedStack:
    """A second copy of the template that nothing writes to."""
    return provision_for_module(local_endpoints, "empty")


# --------------------------------------------------------------------------- configuration


def test_a_source_with_a_field_mapping_round_trips(stack: ProvisionedStack) -> None:
    # Given a source with a field mapping, a token hash and non-default settings
    repository = DynamoSourceRepository(stack.dynamodb, stack.contacts_table)
    source = Source(
        source_id="member-system",
        name="Member system",
        consent_mode=ConsentMode.CONSENT_ON_FILE,
        default_language="fr",
        default_lists=("newsletter", "events"),
        field_mapping=FieldMapping(
            rules=(
                FieldRule(source_path="member.user.email", target="email", transforms=(Transform.LOWER,)),
                FieldRule(source_path="member.birth", target="birthday", transforms=(Transform.DATE,)),
                FieldRule(source_path="member.level", target="custom.level"),
            ),
            date_order=DateOrder.DAY_FIRST,
            keep_unmapped=False,
        ),
        token_hashes=(TokenHash(sha256=hash_token("secret-token"), valid_until=AT + timedelta(hours=24)),),
        created_at=AT,
    )
    other = Source(source_id="web-form", name="Web form", created_at=AT)

    # When both are stored and read back
    repository.put(source)
    repository.put(other)

    # Then each is found by id exactly as stored, an unknown id is None, and both are listed
    assert repository.get("member-system") == source
    assert repository.get("web-form") == other
    assert repository.get("nobody") is None
    assert sorted(repository.list_all(), key=lambda s: s.source_id) == [source, other]


def test_put_replaces_a_source(stack: ProvisionedStack) -> None:
    # Given a stored source
    repository = DynamoSourceRepository(stack.dynamodb, stack.contacts_table)
    source = Source(source_id="shop-replaced", name="Shop", created_at=AT)
    repository.put(source)

    # When it is disabled and stored again
    repository.put(source.model_copy(update={"enabled": False}))

    # Then the stored one is disabled and listed once
    stored = repository.get("shop-replaced")
    assert stored is not None
    assert stored.enabled is False
    assert [s.source_id for s in repository.list_all()].count("shop-replaced") == 1


def test_only_enabled_destinations_are_listed(stack: ProvisionedStack) -> None:
    # Given two enabled destinations and a disabled one
    repository = DynamoDestinationRepository(stack.dynamodb, stack.contacts_table)
    crm = Destination(
        destination_id="crm", type=DestinationType.SIGNED_WEBHOOK, url="https://crm.example/hook"
    )
    hook = Destination(
        destination_id="zapier", type=DestinationType.SIGNED_WEBHOOK, url="https://hooks.example/z"
    )
    off = Destination(
        destination_id="old-crm",
        type=DestinationType.SIGNED_WEBHOOK,
        url="https://old.example/",
        enabled=False,
    )
    for destination in (crm, hook, off):
        repository.put(destination)

    # When the enabled ones are listed
    enabled = repository.list_enabled()

    # Then the disabled one is left out and the others come back as stored
    assert sorted(enabled, key=lambda d: d.destination_id) == [crm, hook]


def test_no_jobs_on_an_empty_table(empty_stack: ProvisionedStack) -> None:
    # Given a fresh contacts table / When the job ids are listed / Then there are none
    assert DynamoImportJobs(empty_stack.dynamodb, empty_stack.contacts_table).list_all() == []
    # And no destinations either
    assert DynamoDestinationRepository(empty_stack.dynamodb, empty_stack.contacts_table).list_enabled() == []


def test_import_jobs_round_trip_and_are_listed_through_the_index(stack: ProvisionedStack) -> None:
    # Given two import jobs stored
    jobs = DynamoImportJobs(stack.dynamodb, stack.contacts_table)
    for job_id in ("nightly-crm", "hourly-shop"):
        jobs.put(
            ImportJob(
                job_id=job_id,
                name=job_id,
                connector=S3CsvSourceSettings(bucket="drops", prefix=f"{job_id}/"),
                permission_confirmed=True,
                created_at=datetime(2026, 11, 23, tzinfo=UTC),
            )
        )
    # When they are listed / Then both are there, whole, and sources are not mistaken for jobs
    assert sorted(job.job_id for job in jobs.list_all()) == ["hourly-shop", "nightly-crm"]
    stored = jobs.get("nightly-crm")
    assert stored is not None
    assert stored.connector == S3CsvSourceSettings(bucket="drops", prefix="nightly-crm/")


# --------------------------------------------------------------------------- guards


def test_suppression_list_with_150_keys(stack: ProvisionedStack) -> None:
    # Given a suppression list keyed by a secret, and 150 identities of which every third is suppressed
    suppression = DynamoSuppressionList(stack.dynamodb, stack.contacts_table, lambda: SUPPRESSION_KEY)
    run = uuid.uuid4().hex[:8]
    identities = [f"EMAIL#opted.out.{run}.{i}@example.com" for i in range(150)]
    suppressed = identities[::3]
    for identity in suppressed:
        suppression.suppress(identity)

    # When they are checked one by one and all at once (two BatchGetItem calls)
    one_by_one = {identity for identity in identities if suppression.is_suppressed(identity)}
    among = suppression.suppressed_among(identities)

    # Then exactly the suppressed ones are reported both ways
    assert one_by_one == set(suppressed)
    assert among == set(suppressed)
    assert suppression.suppressed_among([]) == set()


def test_suppression_items_do_not_hold_the_address(stack: ProvisionedStack) -> None:
    # Given an address put on the suppression list
    suppression = DynamoSuppressionList(stack.dynamodb, stack.contacts_table, lambda: SUPPRESSION_KEY)
    local_part = f"erased-{uuid.uuid4().hex[:8]}"
    identity = f"EMAIL#{local_part}@example.com"
    suppression.suppress(identity)

    # When the table's suppression items are read directly
    items = stack.dynamodb.scan(
        TableName=stack.contacts_table,
        FilterExpression="sk = :sk",
        ExpressionAttributeValues={":sk": {"S": "SUPPRESSED"}},
        ConsistentRead=True,
    )["Items"]

    # Then no item holds the address (nor its plain SHA-256) in any attribute
    plain_digest = hashlib.sha256(identity.encode()).hexdigest()
    stored_text = repr(items)
    assert items
    assert local_part not in stored_text
    assert "example.com" not in stored_text
    assert plain_digest not in stored_text
    assert all(item["pk"]["S"].startswith("SUPPRESSED#") for item in items)

    # And another key does not find it (the hash is keyed)
    other_key = DynamoSuppressionList(stack.dynamodb, stack.contacts_table, lambda: b"another-key")
    assert other_key.is_suppressed(identity) is False
    assert suppression.is_suppressed(identity) is True


def test_rate_limiter_counts_per_minute(stack: ProvisionedStack) -> None:
    # Given a limit of 5 calls a minute for a fresh key
    limiter = DynamoRateLimiter(stack.dynamodb, stack.contacts_table)
    key = f"source:rate-{uuid.uuid4().hex[:8]}"
    minute = datetime(2026, 11, 23, 12, 0, 5, tzinfo=UTC)

    # When 6 calls arrive within the same minute
    answers = [limiter.allow(key, 5, now=minute + timedelta(seconds=i * 5)) for i in range(6)]

    # Then the first 5 are allowed and the 6th is refused
    assert answers == [True] * 5 + [False]

    # And the next minute allows again, while another key is not affected
    assert limiter.allow(key, 5, now=minute + timedelta(minutes=1)) is True
    assert limiter.allow(f"{key}-other", 5, now=minute) is True
