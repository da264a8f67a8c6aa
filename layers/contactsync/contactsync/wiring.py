"""Builds the use cases from settings and cached clients, once per container.

The only place that knows which adapter serves which port; tests build the use
cases themselves with fakes or local endpoints.
"""

from __future__ import annotations

from functools import lru_cache

import requests

from contactsync.adapters import aws_clients
from contactsync.adapters.destination_credentials import SecretsManagerDestinationCredentials
from contactsync.adapters.dynamodb_configuration import (
    DynamoDestinationRepository,
    DynamoJobRepository,
    DynamoSourceRepository,
)
from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
from contactsync.adapters.signed_webhook import SignedWebhookGateway
from contactsync.adapters.sqs_change_publisher import SqsChangePublisher
from contactsync.settings import get_settings
from contactsync.use_cases.deliver_changes import DeliverChanges
from contactsync.use_cases.ingest_contacts import IngestContacts
from contactsync.use_cases.start_due_jobs import StartDueJobs


@lru_cache(maxsize=1)
def ingest_contacts() -> IngestContacts:
    settings = get_settings()
    client = aws_clients.dynamodb_client()
    return IngestContacts(
        sources=DynamoSourceRepository(client, settings.contacts_table),
        contacts=DynamoContactRepository(client, settings.contacts_table),
        publisher=SqsChangePublisher(aws_clients.sqs_client(), settings.push_queue_url),
    )


@lru_cache(maxsize=1)
def deliver_changes() -> DeliverChanges:
    settings = get_settings()
    client = aws_clients.dynamodb_client()
    credentials = SecretsManagerDestinationCredentials(
        aws_clients.secrets_manager_client(), settings.destination_secret_id
    )
    return DeliverChanges(
        contacts=DynamoContactRepository(client, settings.contacts_table),
        destinations=DynamoDestinationRepository(client, settings.contacts_table),
        gateway=SignedWebhookGateway(requests.Session(), credentials, settings.push_timeout_seconds),
    )


@lru_cache(maxsize=1)
def start_due_jobs() -> StartDueJobs:
    settings = get_settings()
    return StartDueJobs(DynamoJobRepository(aws_clients.dynamodb_client(), settings.contacts_table))
