"""Builds the use cases from settings and cached clients, once per container.

The only place that knows which adapter serves which port; tests build the use
cases themselves with fakes or local endpoints. Adapters are imported inside the
factory that needs them, so each function's cold start pays only for its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from contactsync.adapters import aws_clients
from contactsync.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    from contactsync.adapters.dynamodb_consent import DynamoConsentTransactions
    from contactsync.adapters.dynamodb_guards import DynamoSuppressionList
    from contactsync.adapters.sqs_dead_letters import SqsDeadLetters, SqsRetryDelay
    from contactsync.ports import MailSender
    from contactsync.use_cases.deliver_changes import DeliverChanges
    from contactsync.use_cases.held_messages import QueueOrHoldChanges, QueueOrHoldOptIns
    from contactsync.use_cases.ingest_contacts import IngestContacts
    from contactsync.use_cases.run_imports import ManageImportJobs, RunImport
    from contactsync.use_cases.send_confirmations import SendConfirmation
    from contactsync.use_cases.start_due_jobs import StartDueJobs
    from contactsync.use_cases.subscription_links import SubscriptionLinks


@lru_cache(maxsize=1)
def ingest_contacts() -> IngestContacts:
    from contactsync.adapters.dynamodb_configuration import DynamoSourceRepository
    from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
    from contactsync.adapters.dynamodb_guards import DynamoRateLimiter
    from contactsync.adapters.recent_sources import RecentSources
    from contactsync.adapters.source_signing_secrets import SecretsManagerSourceSigningSecrets
    from contactsync.use_cases.ingest_contacts import IngestContacts, IngestDependencies, OptInLimits

    settings = get_settings()
    dynamodb = aws_clients.dynamodb_client()
    secrets = aws_clients.secrets_manager_client()
    changes, opt_ins = _queue_or_hold()
    deps = IngestDependencies(
        sources=RecentSources(DynamoSourceRepository(dynamodb, settings.contacts_table)),
        contacts=DynamoContactRepository(dynamodb, settings.contacts_table),
        changes=changes,
        opt_ins=opt_ins,
        suppression=_suppression_list(),
        rate_limiter=DynamoRateLimiter(dynamodb, settings.contacts_table),
        signing_secrets=SecretsManagerSourceSigningSecrets(secrets, settings.source_secret_id),
        consent=_consent_transactions(),
    )
    limits = OptInLimits(
        resend_interval=timedelta(hours=settings.opt_in_resend_hours),
        per_ip_per_hour=settings.opt_ins_per_ip_per_hour,
    )
    return IngestContacts(deps, limits=limits)


def _queue_or_hold() -> tuple[QueueOrHoldChanges, QueueOrHoldOptIns]:
    """The push and mail publishers, holding in the outbox what SQS does not take."""
    from contactsync.adapters.dynamodb_outbox import DynamoOutbox
    from contactsync.adapters.sqs_change_publisher import SqsChangePublisher, SqsOptInRequestPublisher
    from contactsync.use_cases.held_messages import QueueOrHoldChanges, QueueOrHoldOptIns

    settings = get_settings()
    outbox = DynamoOutbox(aws_clients.dynamodb_client(), settings.contacts_table)
    sqs = aws_clients.sqs_client()
    return (
        QueueOrHoldChanges(SqsChangePublisher(sqs, settings.push_queue_url), outbox),
        QueueOrHoldOptIns(SqsOptInRequestPublisher(sqs, settings.mail_queue_url), outbox),
    )


@lru_cache(maxsize=1)
def idempotency_config() -> IdempotencyConfig:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    settings = get_settings()
    return IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="body_sha256",
        expires_after_seconds=int(settings.idempotency_hours * 3600),
        raise_on_no_idempotency_key=True,
    )


@lru_cache(maxsize=1)
def idempotent_ingest() -> Callable[..., Any]:
    """Run an ingest once per (source, webhook-id or Idempotency-Key); replays get the first answer."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

    settings = get_settings()
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.idempotency_table, boto3_client=aws_clients.dynamodb_client()
    )

    def run_once(request: dict[str, str], work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        return work()

    wrapped: Callable[..., Any] = idempotent_function(
        data_keyword_argument="request", persistence_store=persistence, config=idempotency_config()
    )(run_once)
    return wrapped


MAILCHIMP_CONNECTIONS_PER_CONTAINER = 2


@lru_cache(maxsize=1)
def deliver_changes() -> DeliverChanges:
    from contactsync.adapters.destination_credentials import SecretsManagerDestinationCredentials
    from contactsync.adapters.dynamodb_configuration import DynamoDestinationRepository
    from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
    from contactsync.adapters.dynamodb_push_states import DynamoPushStates
    from contactsync.adapters.http_sessions import retrying_session
    from contactsync.adapters.mailchimp_connector import MailchimpConnector
    from contactsync.adapters.signed_webhook import SignedWebhookConnector
    from contactsync.domain.destination import DestinationType
    from contactsync.use_cases.deliver_changes import DeliverChanges

    settings = get_settings()
    client = aws_clients.dynamodb_client()
    credentials = SecretsManagerDestinationCredentials(
        aws_clients.secrets_manager_client(), settings.destination_secret_id
    )
    # Mailchimp allows 10 concurrent connections per account: the Push mapping runs at most
    # 5 containers (ScalingConfig), each with at most 2 connections to it.
    mailchimp_session = retrying_session(pool_size=MAILCHIMP_CONNECTIONS_PER_CONTAINER)
    return DeliverChanges(
        contacts=DynamoContactRepository(client, settings.contacts_table),
        destinations=DynamoDestinationRepository(client, settings.contacts_table),
        push_states=DynamoPushStates(client, settings.contacts_table),
        connectors={
            DestinationType.SIGNED_WEBHOOK: SignedWebhookConnector(
                retrying_session(pool_size=10), credentials, settings.push_timeout_seconds
            ),
            DestinationType.MAILCHIMP: MailchimpConnector(
                mailchimp_session, credentials.api_key, settings.push_timeout_seconds
            ),
        },
    )


@lru_cache(maxsize=1)
def push_dead_letters() -> SqsDeadLetters:
    from contactsync.adapters.sqs_dead_letters import SqsDeadLetters

    settings = get_settings()
    settings.require("push_dead_letter_queue_url")
    return SqsDeadLetters(aws_clients.sqs_client(), settings.push_dead_letter_queue_url)


@lru_cache(maxsize=1)
def push_retry_delay() -> SqsRetryDelay:
    from contactsync.adapters.sqs_dead_letters import SqsRetryDelay

    return SqsRetryDelay(aws_clients.sqs_client(), get_settings().push_queue_url)


@lru_cache(maxsize=1)
def manage_import_jobs() -> ManageImportJobs:
    from contactsync.adapters.dynamodb_import_jobs import DynamoImportJobs, DynamoJobRuns
    from contactsync.adapters.sqs_change_publisher import SqsRunQueue
    from contactsync.use_cases.run_imports import ManageImportJobs

    settings = get_settings()
    settings.require("sync_queue_url")
    dynamodb = aws_clients.dynamodb_client()
    return ManageImportJobs(
        jobs=DynamoImportJobs(dynamodb, settings.contacts_table),
        runs=DynamoJobRuns(dynamodb, settings.contacts_table),
        queue=SqsRunQueue(aws_clients.sqs_client(), settings.sync_queue_url),
    )


@lru_cache(maxsize=1)
def start_due_jobs() -> StartDueJobs:
    from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
    from contactsync.adapters.dynamodb_outbox import DynamoOutbox
    from contactsync.adapters.sqs_change_publisher import SqsChangePublisher, SqsOptInRequestPublisher
    from contactsync.use_cases.held_messages import RelayHeldMessages
    from contactsync.use_cases.lapse_implied_consent import LapseImpliedConsent
    from contactsync.use_cases.start_due_jobs import StartDueJobs

    settings = get_settings()
    dynamodb = aws_clients.dynamodb_client()
    sqs = aws_clients.sqs_client()
    changes, _ = _queue_or_hold()
    lapse = LapseImpliedConsent(
        contacts=DynamoContactRepository(dynamodb, settings.contacts_table),
        transactions=_consent_transactions(),
        changes=changes,
    )
    relay = RelayHeldMessages(
        DynamoOutbox(dynamodb, settings.contacts_table),
        SqsChangePublisher(sqs, settings.push_queue_url),
        SqsOptInRequestPublisher(sqs, settings.mail_queue_url),
    )
    return StartDueJobs(manage_import_jobs(), lapse, relay)


@lru_cache(maxsize=1)
def run_import() -> RunImport:
    from contactsync.adapters.dynamodb_import_jobs import DynamoImportedFiles, DynamoImportJobs, DynamoJobRuns
    from contactsync.adapters.http_json_connector import HttpJsonConnector
    from contactsync.adapters.http_sessions import retrying_session
    from contactsync.adapters.s3_csv_connector import S3CsvConnector
    from contactsync.adapters.secret_values import JsonSecretValues
    from contactsync.use_cases.run_imports import RunImport

    settings = get_settings()
    dynamodb = aws_clients.dynamodb_client()
    job_secrets = JsonSecretValues(aws_clients.secrets_manager_client(), settings.job_secret_id)
    return RunImport(
        jobs=DynamoImportJobs(dynamodb, settings.contacts_table),
        runs=DynamoJobRuns(dynamodb, settings.contacts_table),
        connectors={
            "http_json": HttpJsonConnector(
                retrying_session(pool_size=4), job_secrets.value, timeout_seconds=30.0
            ),
            "s3_csv": S3CsvConnector(
                aws_clients.s3_client(), DynamoImportedFiles(dynamodb, settings.contacts_table)
            ),
        },
        ingest=ingest_contacts(),
    )


def _suppression_list() -> DynamoSuppressionList:
    from contactsync.adapters.dynamodb_guards import DynamoSuppressionList
    from contactsync.adapters.secret_values import CachedSecret

    settings = get_settings()
    return DynamoSuppressionList(
        aws_clients.dynamodb_client(),
        settings.contacts_table,
        CachedSecret(aws_clients.secrets_manager_client(), settings.suppression_key_secret_id),
    )


def _consent_transactions() -> DynamoConsentTransactions:
    from contactsync.adapters.dynamodb_consent import DynamoConsentLedger, DynamoConsentTransactions

    settings, dynamodb = get_settings(), aws_clients.dynamodb_client()
    return DynamoConsentTransactions(
        dynamodb, settings.contacts_table, DynamoConsentLedger(dynamodb, settings.contacts_table)
    )


@lru_cache(maxsize=1)
def subscription_links() -> SubscriptionLinks:
    from contactsync.adapters.dynamodb_configuration import DynamoSourceRepository
    from contactsync.adapters.dynamodb_consent import DynamoLinkTokens
    from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
    from contactsync.use_cases.subscription_links import LinkDependencies, SubscriptionLinks

    settings = get_settings()
    dynamodb = aws_clients.dynamodb_client()
    changes, opt_ins = _queue_or_hold()
    deps = LinkDependencies(
        contacts=DynamoContactRepository(dynamodb, settings.contacts_table),
        sources=DynamoSourceRepository(dynamodb, settings.contacts_table),
        tokens=DynamoLinkTokens(dynamodb, settings.contacts_table),
        transactions=_consent_transactions(),
        changes=changes,
        opt_ins=opt_ins,
        suppression=_suppression_list(),
    )
    return SubscriptionLinks(
        deps,
        default_organisation=settings.organisation_name,
        resend_interval=timedelta(hours=settings.opt_in_resend_hours),
    )


def mail_sender() -> MailSender:
    from contactsync.adapters.mail_senders import SesMailSender, SmtpMailSender

    settings = get_settings()
    if settings.mail_transport == "smtp":
        settings.require("smtp_host")
        return SmtpMailSender(settings.smtp_host, settings.smtp_port, starttls=settings.smtp_starttls)
    return SesMailSender(aws_clients.sesv2_client(), settings.ses_configuration_set or None)


@lru_cache(maxsize=1)
def send_confirmation() -> SendConfirmation:
    from contactsync.adapters.dynamodb_configuration import DynamoSourceRepository
    from contactsync.adapters.dynamodb_consent import DynamoConsentLedger, DynamoLinkTokens
    from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
    from contactsync.mail_rendering import MailIdentity
    from contactsync.use_cases.send_confirmations import PublicLinks, SendConfirmation

    settings = get_settings()
    settings.require("mail_from_address", "public_base_url")
    dynamodb = aws_clients.dynamodb_client()
    return SendConfirmation(
        contacts=DynamoContactRepository(dynamodb, settings.contacts_table),
        sources=DynamoSourceRepository(dynamodb, settings.contacts_table),
        tokens=DynamoLinkTokens(dynamodb, settings.contacts_table),
        ledger=DynamoConsentLedger(dynamodb, settings.contacts_table),
        mailer=mail_sender(),
        links=PublicLinks(settings.public_base_url),
        identity=MailIdentity(
            from_address=settings.mail_from_address,
            organisation_name=settings.organisation_name,
            postal_address=settings.organisation_postal_address,
        ),
        token_lifetime=timedelta(days=settings.opt_in_token_days),
    )


@lru_cache(maxsize=1)
def mail_idempotency_config() -> IdempotencyConfig:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(event_key_jmespath="ref", expires_after_seconds=7 * 24 * 3600)


@lru_cache(maxsize=1)
def idempotent_mail() -> Callable[..., Any]:
    """Send each confirmation mail once, even when SQS delivers its message twice."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

    settings = get_settings()
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.idempotency_table, boto3_client=aws_clients.dynamodb_client()
    )
    config = mail_idempotency_config()

    def send_once(request: dict[str, str], work: Callable[[], str | None]) -> dict[str, str | None]:
        return {"message_id": work()}

    wrapped: Callable[..., Any] = idempotent_function(
        data_keyword_argument="request", persistence_store=persistence, config=config
    )(send_once)
    return wrapped
