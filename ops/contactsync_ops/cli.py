"""`contactsync`: the operator's one entry point (local stack, sources, status)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from contactsync.adapters.destination_credentials import SecretsManagerDestinationCredentials
from contactsync.adapters.dynamodb_configuration import DynamoDestinationRepository, DynamoSourceRepository
from contactsync.adapters.dynamodb_consent import DynamoConsentLedger
from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
from contactsync.adapters.dynamodb_guards import DynamoSuppressionList
from contactsync.adapters.dynamodb_import_jobs import DynamoImportJobs, DynamoJobRuns
from contactsync.adapters.dynamodb_push_states import DynamoPushStates
from contactsync.adapters.secret_values import CachedSecret, JsonSecretWriter
from contactsync.adapters.source_signing_secrets import SecretsManagerSourceSigningSecrets
from contactsync.adapters.sqs_change_publisher import SqsChangePublisher, SqsRunQueue
from contactsync.adapters.sqs_dead_letters import DeadLetterQueue
from contactsync.domain.contact import ConsentBasis
from contactsync.domain.destination import Destination, DestinationType, MailchimpSettings
from contactsync.domain.field_mapping import FieldMapping
from contactsync.domain.import_jobs import (
    ConsentOnImport,
    HttpJsonSourceSettings,
    ImportJob,
    ImportMode,
    JobRun,
    Pagination,
    RunStatus,
    S3CsvSourceSettings,
)
from contactsync.domain.source import DEFAULT_EVENT_ACTIONS, AuthMode, ConsentMode, EventAction
from contactsync.errors import ClientError, SourceNotFound
from contactsync.models.queue_messages import OptInRequest, PushMessage, RunMessage
from contactsync.use_cases.contact_records import ContactRecords
from contactsync.use_cases.manage_destinations import BackfillProgress, ManageDestinations
from contactsync.use_cases.manage_sources import IssuedCredential, ManageSources, SourceSettings
from contactsync.use_cases.run_imports import ManageImportJobs
from contactsync_ops.local_stack.commands import run_dev, show_status
from contactsync_ops.local_stack.stack import LocalStackOptions
from contactsync_ops.openapi_document import DOCUMENT_PATH, render_openapi
from contactsync_ops.stack_target import StackTarget, TargetNotFound, local_target, resolve_target

console = Console()
app = typer.Typer(
    no_args_is_help=True, help="contactsync: contact sync and consent hub.", add_completion=False
)
sources_app = typer.Typer(no_args_is_help=True, help="Webhook sources that push contacts in.")
app.add_typer(sources_app, name="sources")

StateDir = Annotated[Path, typer.Option("--state-dir", help="Where the local stack keeps its state.")]
StackName = Annotated[
    str | None,
    typer.Option(
        "--stack-name", envvar="CONTACTSYNC_STACK_NAME", help="A deployed stack (default: the local one)."
    ),
]
Region = Annotated[str | None, typer.Option("--region", envvar="AWS_REGION", help="Region of --stack-name.")]


def _target(stack_name: str | None, region: str | None, state_dir: Path) -> StackTarget:
    try:
        return resolve_target(stack_name, region, state_dir)
    except TargetNotFound as missing:
        console.print(f"[red]{missing}[/red]")
        raise typer.Exit(2) from None


def _dead_letter_queues(target: StackTarget, queue: str) -> tuple[str, str]:
    try:
        return target.dead_letter_queues(queue)
    except TargetNotFound as missing:
        console.print(f"[red]{missing}[/red]")
        raise typer.Exit(2) from None


def _webhook_url(target: StackTarget, source_id: str) -> str:
    return f"{target.api_url.rstrip('/')}/v1/sources/{source_id}/contacts"


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="API port (0: any free port)")] = 3000,
    dynamodb_port: Annotated[int, typer.Option(help="DynamoDB Local port (0: any free port)")] = 8000,
    moto_port: Annotated[int, typer.Option(help="moto server port (0: any free port)")] = 5000,
    state_dir: StateDir = Path(".local"),
    in_memory: Annotated[bool, typer.Option(help="Keep DynamoDB data in memory only")] = False,
    max_visibility_timeout: Annotated[
        int | None,
        typer.Option(help="Cap queue visibility timeouts (seconds) so failed items come back sooner"),
    ] = None,
    batching_window: Annotated[
        float | None, typer.Option(help="Override every SQS batching window (seconds)")
    ] = None,
    parameter: Annotated[
        list[str] | None,
        typer.Option("--parameter", help="Template parameter override KEY=VALUE (repeatable)"),
    ] = None,
    no_schedules: Annotated[bool, typer.Option("--no-schedules", help="Do not fire the schedules")] = False,
    faults: Annotated[
        str | None,
        typer.Option(
            help='Fail a share of the functions\' AWS attempts, e.g. "dynamodb=0.1,sqs=0.05,seed=7" '
            "(per operation: sqs.SendMessageBatch=1)"
        ),
    ] = None,
) -> None:
    """Run the whole function set locally: DynamoDB Local, moto, API, schedules, queue pollers."""
    overrides: dict[str, str] = {}
    for item in parameter or []:
        key, separator, value = item.partition("=")
        if not separator or not key:
            console.print(f"[red]--parameter wants KEY=VALUE, got {item!r}[/red]")
            raise typer.Exit(2)
        overrides[key] = value
    run_dev(
        LocalStackOptions(
            state_dir=state_dir,
            in_memory=in_memory,
            gateway_port=port,
            dynamodb_port=dynamodb_port,
            moto_port=moto_port,
            parameter_overrides=overrides,
            max_visibility_timeout=max_visibility_timeout,
            batching_window_seconds=batching_window,
            enable_schedules=not no_schedules,
            faults=faults,
        ),
        on_started=_register_demo_source,
    )


def _register_demo_source(state: dict[str, Any]) -> str | None:
    """A `demo` source with a fresh token on every start, so the printed curl line works as is."""
    target = local_target(Path(state["state_dir"]))
    manage = _manage_sources(target)
    try:
        return manage.rotate("demo", grace=timedelta(0)).credential
    except SourceNotFound:
        return manage.register("demo", SourceSettings(name="Demo form")).credential


@app.command()
def status(state_dir: StateDir = Path(".local")) -> None:
    """Whether a local stack runs, its endpoints, queue depths and item counts."""
    raise typer.Exit(show_status(state_dir))


@app.command()
def openapi(
    write: Annotated[bool, typer.Option(help="Write docs/openapi.json instead of printing")] = False,
) -> None:
    """The API's OpenAPI document, generated from the routes."""
    document = render_openapi()
    if write:
        DOCUMENT_PATH.write_text(document, encoding="utf-8")
        console.print(f"wrote {DOCUMENT_PATH}")
    else:
        typer.echo(document, nl=False)


def _manage_sources(target: StackTarget) -> ManageSources:
    return ManageSources(
        DynamoSourceRepository(target.dynamodb(), target.contacts_table),
        SecretsManagerSourceSigningSecrets(target.secrets_manager(), target.source_secret_id),
    )


def _print_credential(target: StackTarget, issued: IssuedCredential) -> None:
    console.print(f"Webhook URL:  {_webhook_url(target, issued.source.source_id)}")
    label = "Signing secret" if issued.source.auth_mode is AuthMode.STANDARD_WEBHOOKS else "Bearer token"
    console.print(f"{label}: [bold]{issued.credential}[/bold]  (shown once; store it in the sending tool)")


@sources_app.command("add")
def sources_add(
    source_id: Annotated[str, typer.Argument(help="lowercase id used in the webhook URL, e.g. shop")],
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    consent_mode: Annotated[ConsentMode, typer.Option(help="How contacts from it get consent")] = (
        ConsentMode.DOUBLE_OPT_IN
    ),
    auth: Annotated[AuthMode, typer.Option(help="Standard Webhooks signatures, or a bearer token")] = (
        AuthMode.BEARER_TOKEN
    ),
    language: Annotated[str, typer.Option(help="Default language of its contacts")] = "en",
    lists: Annotated[list[str] | None, typer.Option("--list", help="Default list (repeatable)")] = None,
    newsletter_required: Annotated[
        bool, typer.Option(help="Subscribe only contacts whose `newsletter` field is true")
    ] = False,
    public_form: Annotated[
        bool,
        typer.Option(help="Browsers post to it directly: cap confirmation mails per client IP and hour"),
    ] = False,
    mapping: Annotated[Path | None, typer.Option(help="JSON file with the field mapping")] = None,
    on_cancel: Annotated[
        EventAction, typer.Option(help="what member.cancelled does: tag, unsubscribe or ignore")
    ] = EventAction.TAG,
    state_dir: StateDir = Path(".local"),
    stack_name: StackName = None,
    region: Region = None,
) -> None:
    """Register a source; prints its webhook URL and its credential (shown once)."""
    target = _target(stack_name, region, state_dir)
    try:
        settings = SourceSettings(
            name=name or source_id,
            consent_mode=consent_mode,
            auth_mode=auth,
            default_language=language,
            default_lists=tuple(lists or ()),
            newsletter_field_required=newsletter_required,
            public_form=public_form,
            event_actions={**DEFAULT_EVENT_ACTIONS, "member.cancelled": on_cancel},
            field_mapping=FieldMapping.model_validate_json(mapping.read_text(encoding="utf-8"))
            if mapping
            else FieldMapping(),
        )
        issued = _manage_sources(target).register(source_id, settings)
    except ValidationError as invalid:
        _refuse_invalid("source", invalid)
    except ClientError as refused:
        console.print(f"[red]{refused.message}[/red]")
        raise typer.Exit(1) from None
    console.print(f"[green]Source {source_id} registered[/green] ({consent_mode.value}, {auth.value}).")
    _print_credential(target, issued)


@sources_app.command("list")
def sources_list(
    state_dir: StateDir = Path(".local"), stack_name: StackName = None, region: Region = None
) -> None:
    """List the sources with their consent mode and state."""
    target = _target(stack_name, region, state_dir)
    table = Table("id", "name", "consent mode", "auth", "language", "lists", "enabled")
    for source in _manage_sources(target).list_all():
        table.add_row(
            source.source_id,
            source.name,
            source.consent_mode.value,
            source.auth_mode.value,
            source.default_language,
            ", ".join(source.default_lists),
            "yes" if source.enabled else "no",
        )
    console.print(table)


@sources_app.command("show")
def sources_show(
    source_id: str, state_dir: StateDir = Path(".local"), stack_name: StackName = None, region: Region = None
) -> None:
    """Show a source's settings (never its credentials)."""
    target = _target(stack_name, region, state_dir)
    source = _guarded(lambda: _manage_sources(target).show(source_id))
    shown = source.model_dump(mode="json", exclude={"token_hashes"})
    shown["webhook_url"] = _webhook_url(target, source_id)
    shown["credentials"] = f"{len(source.token_hashes)} token(s)" if source.token_hashes else "signing secret"
    console.print_json(json.dumps(shown))


@sources_app.command("rotate-secret")
def sources_rotate(
    source_id: str,
    grace_hours: Annotated[float, typer.Option(help="How long the old credential keeps working")] = 24.0,
    state_dir: StateDir = Path(".local"),
    stack_name: StackName = None,
    region: Region = None,
) -> None:
    """Issue a new credential; the old one stays valid for the grace period."""
    target = _target(stack_name, region, state_dir)
    issued = _guarded(lambda: _manage_sources(target).rotate(source_id, timedelta(hours=grace_hours)))
    console.print(
        f"[green]New credential for {source_id}[/green]; the old one works for {grace_hours:g} more hours."
    )
    _print_credential(target, issued)


@sources_app.command("disable")
def sources_disable(
    source_id: str, state_dir: StateDir = Path(".local"), stack_name: StackName = None, region: Region = None
) -> None:
    """Disable a source: its webhook answers 404 from now on."""
    target = _target(stack_name, region, state_dir)
    _guarded(lambda: _manage_sources(target).disable(source_id))
    console.print(f"Source {source_id} disabled.")


def _refuse_invalid(what: str, invalid: ValidationError) -> NoReturn:
    """Name the first invalid setting (where and why) and stop with the usage exit code."""
    first = invalid.errors()[0]
    console.print(f"[red]invalid {what}: {'.'.join(map(str, first['loc']))}: {first['msg']}[/red]")
    raise typer.Exit(2) from None


def _guarded[T](action: Callable[[], T]) -> T:
    try:
        return action()
    except ClientError as refused:
        console.print(f"[red]{refused.message}[/red]")
        raise typer.Exit(1) from None


contacts_app = typer.Typer(no_args_is_help=True, help="One person's records: show, erase.")
consent_app = typer.Typer(no_args_is_help=True, help="Consent proof.")
app.add_typer(contacts_app, name="contacts")
app.add_typer(consent_app, name="consent")


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def _contact_records(target: StackTarget) -> ContactRecords:
    dynamodb = target.dynamodb()
    return ContactRecords(
        contacts=DynamoContactRepository(dynamodb, target.contacts_table),
        ledger=DynamoConsentLedger(dynamodb, target.contacts_table),
        suppression=DynamoSuppressionList(
            dynamodb,
            target.contacts_table,
            CachedSecret(target.secrets_manager(), target.suppression_key_secret_id),
        ),
        changes=SqsChangePublisher(target.sqs(), target.push_queue_url),
    )


@contacts_app.command("show")
def contacts_show(
    email: str, state_dir: StateDir = Path(".local"), stack_name: StackName = None, region: Region = None
) -> None:
    """Show one contact: status, lists, consent basis, pending change."""
    contact = _guarded(lambda: _contact_records(_target(stack_name, region, state_dir)).find(email))
    if contact is None:
        console.print("No contact has this address.")
        raise typer.Exit(1)
    target = _target(stack_name, region, state_dir)
    states = DynamoPushStates(target.dynamodb(), target.contacts_table).for_contact(contact.contact_id)
    shown = contact.model_dump(mode="json")
    shown["destinations"] = {state.destination_id: state.model_dump(mode="json") for state in states}
    console.print_json(json.dumps(shown))


@contacts_app.command("erase")
def contacts_erase(
    email: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    state_dir: StateDir = Path(".local"),
    stack_name: StackName = None,
    region: Region = None,
) -> None:
    """Erase a person's data everywhere (GDPR); only a keyed hash stays, so the opt-out survives."""
    if not yes:
        typer.confirm(f"Erase every record of {email}? This cannot be undone", abort=True)
    existed = _guarded(lambda: _contact_records(_target(stack_name, region, state_dir)).erase(email))
    console.print(
        "Erased; the address stays suppressed."
        if existed
        else "No contact had this address; it is now suppressed."
    )


@consent_app.command("show")
def consent_show(
    email: str,
    output: Annotated[OutputFormat, typer.Option("--format", help="table, or json to export as evidence")] = (
        OutputFormat.TABLE
    ),
    state_dir: StateDir = Path(".local"),
    stack_name: StackName = None,
    region: Region = None,
) -> None:
    """The consent ledger of one contact: every request, mail, confirmation and withdrawal."""
    record = _guarded(lambda: _contact_records(_target(stack_name, region, state_dir)).consent_record(email))
    if record is None:
        console.print("No contact has this address.")
        raise typer.Exit(1)
    if output is OutputFormat.JSON:
        typer.echo(
            json.dumps(
                {
                    "contact_id": record.contact.contact_id,
                    "email": record.contact.profile.email,
                    "status": record.contact.status.value,
                    "chain_intact": record.chain_intact,
                    "events": [event.model_dump(mode="json") for event in record.events],
                },
                indent=2,
            )
        )
        return
    console.print(f"[bold]Consent of {email}[/bold] (contact {record.contact.contact_id})")
    for event in record.events:
        console.print(
            f"#{event.sequence} [bold]{event.type.value}[/bold]  {event.at.isoformat(timespec='seconds')}"
            f"  source {event.source_id or '-'}",
            highlight=False,
        )
        details = {
            "purpose": ", ".join(event.purpose),
            "how": event.method,
            "basis": event.basis.value if event.basis else None,
            "expires": event.expires_at.isoformat(timespec="seconds") if event.expires_at else None,
            "wording": f"{event.wording_version} sha256 {event.wording_sha256[:16]}"
            if event.wording_sha256
            else None,
            "ip": event.ip,
            "user agent": event.user_agent,
            "message id": event.message_id,
        }
        for label, value in details.items():
            if value:
                console.print(f"    {label}: {value}", highlight=False, markup=False, soft_wrap=True)
    console.print(
        f"status: {record.contact.status.value}; chain: {'intact' if record.chain_intact else 'BROKEN'}"
    )


destinations_app = typer.Typer(no_args_is_help=True, help="Destinations that receive every change.")
dlq_app = typer.Typer(no_args_is_help=True, help="Changes that could not be delivered.")
app.add_typer(destinations_app, name="destinations")
app.add_typer(dlq_app, name="dlq")


def _manage_destinations(target: StackTarget) -> ManageDestinations:
    dynamodb = target.dynamodb()
    return ManageDestinations(
        destinations=DynamoDestinationRepository(dynamodb, target.contacts_table),
        credentials=SecretsManagerDestinationCredentials(
            target.secrets_manager(), target.destination_secret_id
        ),
        contacts=DynamoContactRepository(dynamodb, target.contacts_table),
        changes=SqsChangePublisher(target.sqs(), target.push_queue_url),
    )


@destinations_app.command("add")
def destinations_add(
    destination_id: Annotated[str, typer.Argument(help="lowercase id, e.g. mailchimp-main")],
    kind: Annotated[DestinationType, typer.Option("--type", help="signed_webhook or mailchimp")],
    url: Annotated[str | None, typer.Option(help="signed_webhook: where to POST")] = None,
    api_url: Annotated[str | None, typer.Option(help="mailchimp: https://<dc>.api.mailchimp.com/3.0")] = None,
    list_id: Annotated[str | None, typer.Option(help="mailchimp: the audience id")] = None,
    status_if_new: Annotated[
        str, typer.Option(help="mailchimp: subscribed, pending or transactional")
    ] = "subscribed",
    api_key: Annotated[
        str | None, typer.Option(envvar="CONTACTSYNC_DESTINATION_API_KEY", help="mailchimp: API key (or env)")
    ] = None,
    only_list: Annotated[
        list[str] | None, typer.Option("--only-list", help="only contacts on this list")
    ] = None,
    linked_source: Annotated[
        str | None, typer.Option(help="this destination is also that source: its changes are not sent back")
    ] = None,
    state_dir: StateDir = Path(".local"),
    stack_name: StackName = None,
    region: Region = None,
) -> None:
    """Add a destination; a webhook's signing secret is printed once, an API key goes to Secrets Manager."""
    target = _target(stack_name, region, state_dir)
    try:
        destination = Destination(
            destination_id=destination_id,
            type=kind,
            url=url,  # type: ignore[arg-type]
            mailchimp=MailchimpSettings(api_url=api_url, list_id=list_id, status_if_new=status_if_new)  # type: ignore[arg-type]
            if kind is DestinationType.MAILCHIMP
            else None,
            lists=tuple(only_list or ()),
            linked_source_id=linked_source,
        )
    except ValidationError as invalid:
        _refuse_invalid("destination", invalid)
    if kind is DestinationType.SIGNED_WEBHOOK and destination.url is None:
        console.print("[red]a signed_webhook destination needs --url[/red]")
        raise typer.Exit(2)
    if kind is DestinationType.MAILCHIMP and not api_key:
        console.print("[red]a mailchimp destination needs --api-key or CONTACTSYNC_DESTINATION_API_KEY[/red]")
        raise typer.Exit(2)
    secret = _guarded(lambda: _manage_destinations(target).add(destination, api_key=api_key))
    console.print(f"[green]Destination {destination_id} added[/green] ({kind.value}).")
    if secret:
        console.print(f"Signing secret: [bold]{secret}[/bold]  (shown once; verify deliveries with it)")


@destinations_app.command("list")
def destinations_list(
    state_dir: StateDir = Path(".local"), stack_name: StackName = None, region: Region = None
) -> None:
    """List the destinations."""
    target = _target(stack_name, region, state_dir)
    table = Table("id", "type", "where", "lists", "statuses", "enabled")
    for destination in _manage_destinations(target).list_all():
        where = str(destination.url or (destination.mailchimp.api_url if destination.mailchimp else ""))
        table.add_row(
            destination.destination_id,
            destination.type.value,
            where,
            ", ".join(destination.lists) or "all",
            ", ".join(status.value for status in destination.statuses),
            "yes" if destination.enabled else "no",
        )
    console.print(table)


@destinations_app.command("show")
def destinations_show(
    destination_id: str,
    state_dir: StateDir = Path(".local"),
    stack_name: StackName = None,
    region: Region = None,
) -> None:
    """Show a destination's settings (never its credentials)."""
    target = _target(stack_name, region, state_dir)
    console.print_json(_guarded(lambda: _manage_destinations(target).show(destination_id)).model_dump_json())


@destinations_app.command("disable")
def destinations_disable(
    destination_id: str,
    state_dir: StateDir = Path(".local"),
    stack_name: StackName = None,
    region: Region = None,
) -> None:
    """Stop pushing to a destination."""
    target = _target(stack_name, region, state_dir)
    _guarded(lambda: _manage_destinations(target).disable(destination_id))
    console.print(f"Destination {destination_id} disabled.")


@destinations_app.command("backfill")
def destinations_backfill(
    destination_id: str,
    resume_from: Annotated[
        str | None, typer.Option(help="resume an interrupted backfill from this cursor")
    ] = None,
    state_dir: StateDir = Path(".local"),
    stack_name: StackName = None,
    region: Region = None,
) -> None:
    """Send every contact to one destination through the push queue (resumable)."""
    target = _target(stack_name, region, state_dir)
    manage = _manage_destinations(target)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console) as progress:
        task = progress.add_task("queued 0 contacts", total=None)

        def on_page(page: BackfillProgress) -> None:
            progress.update(task, description=f"queued {page.queued} contacts")
            if page.resume_from:
                progress.console.print(
                    f"[dim]resume with --resume-from '{page.resume_from}'[/dim]", highlight=False
                )

        queued = _guarded(lambda: manage.backfill(destination_id, resume_from, on_page))
    console.print(
        f"[green]{queued} contacts queued for {destination_id}[/green]; "
        "contacts it already holds are skipped."
    )


class DeadLetterQueueName(StrEnum):
    PUSH = "push"
    MAIL = "mail"
    SYNC = "sync"


def _dead_letter_subject(queue: DeadLetterQueueName, body: str) -> str:
    """What a dead-lettered message was about, without personal data: ids and versions only."""
    try:
        if queue is DeadLetterQueueName.PUSH:
            change = PushMessage.model_validate_json(body).change
            return f"contact {change.contact_id} v{change.version}"
        if queue is DeadLetterQueueName.MAIL:
            request = OptInRequest.model_validate_json(body)
            return f"confirmation mail, contact {request.contact_id} v{request.contact_version}"
        return f"import run {RunMessage.model_validate_json(body).run_id}"
    except ValidationError:
        return "(not a message of this queue)"


QueueOption = Annotated[
    DeadLetterQueueName, typer.Option("--queue", help="whose dead-letter queue: push, mail or sync")
]


@dlq_app.command("list")
def dlq_list(
    queue: QueueOption = DeadLetterQueueName.PUSH,
    limit: Annotated[int, typer.Option(help="at most this many")] = 50,
    state_dir: StateDir = Path(".local"),
    stack_name: StackName = None,
    region: Region = None,
) -> None:
    """Messages that could not be handled (changes, confirmation mails, import runs), with the reason."""
    target = _target(stack_name, region, state_dir)
    dead_letter_url, _ = _dead_letter_queues(target, queue.value)
    letters = DeadLetterQueue(target.sqs(), dead_letter_url).peek(limit)
    table = Table("message", "what", "reason", "receives", "sent")
    for letter in letters:
        table.add_row(
            letter.message_id[:12],
            _dead_letter_subject(queue, letter.body),
            letter.reason,
            str(letter.receive_count),
            letter.sent_at.isoformat(timespec="seconds") if letter.sent_at else "",
        )
    console.print(table)
    console.print(f"{len(letters)} message(s) in the {queue.value} dead-letter queue.")


@dlq_app.command("redrive")
def dlq_redrive(
    queue: QueueOption = DeadLetterQueueName.PUSH,
    state_dir: StateDir = Path(".local"),
    stack_name: StackName = None,
    region: Region = None,
) -> None:
    """Send every dead-lettered message back to its queue for another try."""
    target = _target(stack_name, region, state_dir)
    dead_letter_url, queue_url = _dead_letter_queues(target, queue.value)
    moved = DeadLetterQueue(target.sqs(), dead_letter_url).redrive(queue_url)
    console.print(f"{moved} message(s) sent back to the {queue.value} queue.")


jobs_app = typer.Typer(no_args_is_help=True, help="Recurring imports from other systems.")
app.add_typer(jobs_app, name="jobs")


def _manage_jobs(target: StackTarget) -> ManageImportJobs:
    dynamodb = target.dynamodb()
    return ManageImportJobs(
        jobs=DynamoImportJobs(dynamodb, target.contacts_table),
        runs=DynamoJobRuns(dynamodb, target.contacts_table),
        queue=SqsRunQueue(target.sqs(), target.sync_queue_url),
    )


@jobs_app.command("add")
def jobs_add(
    job_id: Annotated[str, typer.Argument(help="lowercase id, e.g. members-nightly")],
    permission_confirmed: Annotated[
        bool, typer.Option("--permission-confirmed", help="I confirm I may add these contacts (required)")
    ] = False,
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    http_url: Annotated[str | None, typer.Option(help="an HTTP JSON API listing contacts")] = None,
    pagination: Annotated[Pagination, typer.Option(help="how the API pages")] = Pagination.PAGE_NUMBER,
    records_path: Annotated[str, typer.Option(help="where the records are in a response")] = "data",
    updated_since_param: Annotated[
        str | None, typer.Option(help="incremental: the API's 'updated since' parameter")
    ] = None,
    token_name: Annotated[
        str | None, typer.Option(help="name of the API's bearer token in the job secret")
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="CONTACTSYNC_JOB_TOKEN", help="the bearer token (or env)")
    ] = None,
    s3_prefix: Annotated[
        str | None, typer.Option(help="CSV files dropped under this prefix of the import bucket")
    ] = None,
    mode: Annotated[
        ImportMode, typer.Option(help="add and update, add only, update only")
    ] = ImportMode.ADD_AND_UPDATE,
    lists: Annotated[list[str] | None, typer.Option("--list", help="target list (repeatable)")] = None,
    mapping: Annotated[Path | None, typer.Option(help="JSON file with the field mapping")] = None,
    every_hours: Annotated[int, typer.Option(help="1, 2, 3, 4, 6, 8, 12 or 24")] = 24,
    at_hour: Annotated[int | None, typer.Option(help="daily jobs: the local hour")] = None,
    time_zone: Annotated[str, typer.Option(help="the job's time zone")] = "America/Toronto",
    consent_basis: Annotated[
        ConsentBasis | None,
        typer.Option(help="the legal basis for these contacts; none: stored, never mailed"),
    ] = None,
    consent_method: Annotated[str | None, typer.Option(help="how that consent was obtained")] = None,
    consent_obtained_at: Annotated[
        datetime | None,
        typer.Option(
            help="when it was obtained, for records without a date of their own; implied consent "
            "needs one of the two, express defaults to each run's time"
        ),
    ] = None,
    state_dir: StateDir = Path(".local"),
    stack_name: StackName = None,
    region: Region = None,
) -> None:
    """Add a recurring import. Refused without --permission-confirmed."""
    target = _target(stack_name, region, state_dir)
    if (http_url is None) == (s3_prefix is None):
        console.print("[red]give exactly one source: --http-url or --s3-prefix[/red]")
        raise typer.Exit(2)
    if consent_basis is not None and not consent_method:
        console.print("[red]--consent-basis needs --consent-method (how consent was obtained)[/red]")
        raise typer.Exit(2)
    try:
        connector: HttpJsonSourceSettings | S3CsvSourceSettings = (
            HttpJsonSourceSettings(
                url=http_url,
                pagination=pagination,
                records_path=records_path,
                updated_since_param=updated_since_param,
                credentials_secret_key=token_name,
            )
            if http_url
            else S3CsvSourceSettings(bucket=target.import_bucket, prefix=s3_prefix or "")
        )
        job = ImportJob(
            job_id=job_id,
            name=name or job_id,
            connector=connector,
            mode=mode,
            target_lists=tuple(lists or ()),
            field_mapping=FieldMapping.model_validate_json(mapping.read_text(encoding="utf-8"))
            if mapping
            else FieldMapping(),
            every_hours=every_hours,
            at_hour=at_hour,
            time_zone=time_zone,
            consent=ConsentOnImport(
                basis=consent_basis,
                method=consent_method or "",
                obtained_at=consent_obtained_at.replace(tzinfo=consent_obtained_at.tzinfo or UTC)
                if consent_obtained_at
                else None,
            )
            if consent_basis
            else None,
            permission_confirmed=permission_confirmed,
            created_at=datetime.now(UTC),
        )
    except ValidationError as invalid:
        _refuse_invalid("job", invalid)
    if token_name and token:
        JsonSecretWriter(target.secrets_manager(), target.job_secret_id).put(token_name, token)
    added = _guarded(lambda: _manage_jobs(target).add(job))
    console.print(f"[green]Job {job_id} added[/green]; next run {added.next_run_at}.")
    if consent_basis is ConsentBasis.IMPLIED and consent_obtained_at is None:
        console.print(
            "Implied consent runs from each record's own date (map a field to consent_obtained_at); "
            "records without one are refused. --consent-obtained-at gives one date for all."
        )
    if s3_prefix is not None:
        console.print(f"Drop CSV files in s3://{target.import_bucket}/{s3_prefix}")


@jobs_app.command("list")
def jobs_list(
    state_dir: StateDir = Path(".local"), stack_name: StackName = None, region: Region = None
) -> None:
    """The import jobs and when they run next."""
    target = _target(stack_name, region, state_dir)
    table = Table("id", "source", "mode", "every", "consent", "next run", "paused")
    for job in _manage_jobs(target).list_all():
        source = (
            job.connector.url
            if isinstance(job.connector, HttpJsonSourceSettings)
            else (f"s3://{job.connector.bucket}/{job.connector.prefix}")
        )
        table.add_row(
            job.job_id,
            source,
            job.mode.value,
            f"{job.every_hours} h" + (f" at {job.at_hour}:00" if job.at_hour is not None else ""),
            job.consent.basis.value if job.consent else "none (not mailed)",
            job.next_run_at.isoformat(timespec="minutes") if job.next_run_at else "-",
            "yes" if job.paused else "no",
        )
    console.print(table)


@jobs_app.command("show")
def jobs_show(
    job_id: str, state_dir: StateDir = Path(".local"), stack_name: StackName = None, region: Region = None
) -> None:
    """A job's settings."""
    target = _target(stack_name, region, state_dir)
    console.print_json(_guarded(lambda: _manage_jobs(target).show(job_id)).model_dump_json())


@jobs_app.command("pause")
def jobs_pause(
    job_id: str, state_dir: StateDir = Path(".local"), stack_name: StackName = None, region: Region = None
) -> None:
    """Stop scheduling a job."""
    target = _target(stack_name, region, state_dir)
    _guarded(lambda: _manage_jobs(target).set_paused(job_id, paused=True))
    console.print(f"Job {job_id} paused.")


@jobs_app.command("resume")
def jobs_resume(
    job_id: str, state_dir: StateDir = Path(".local"), stack_name: StackName = None, region: Region = None
) -> None:
    """Schedule a paused job again."""
    target = _target(stack_name, region, state_dir)
    job = _guarded(lambda: _manage_jobs(target).set_paused(job_id, paused=False))
    console.print(f"Job {job_id} resumed; next run {job.next_run_at}.")


@jobs_app.command("run-now")
def jobs_run_now(
    job_id: str,
    wait: Annotated[bool, typer.Option(help="follow the run with a progress display")] = True,
    timeout: Annotated[float, typer.Option(help="stop following after this many seconds")] = 3600.0,
    state_dir: StateDir = Path(".local"),
    stack_name: StackName = None,
    region: Region = None,
) -> None:
    """Start a run at once, and follow it."""
    target = _target(stack_name, region, state_dir)
    manage = _manage_jobs(target)
    run = _guarded(lambda: manage.run_now(job_id))
    console.print(f"Run {run.run_id} started.")
    if not wait:
        return
    deadline = time.monotonic() + timeout
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console) as progress:
        task = progress.add_task("queued", total=None)
        while time.monotonic() < deadline:
            current = manage.run(run.run_id) or run
            c = current.counters
            progress.update(
                task,
                description=f"{current.status.value}: page {c.pages}, added {c.added}, updated {c.updated}, "
                f"unchanged {c.unchanged}, skipped {c.skipped}, rejected {c.rejected}",
            )
            if current.status in {RunStatus.SUCCEEDED, RunStatus.FAILED}:
                break
            time.sleep(0.5)
    final = manage.run(run.run_id) or run
    _print_run(final)
    if final.status is RunStatus.FAILED:
        raise typer.Exit(1)


@jobs_app.command("runs")
def jobs_runs(
    job_id: str,
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 10,
    state_dir: StateDir = Path(".local"),
    stack_name: StackName = None,
    region: Region = None,
) -> None:
    """The reports of a job's last runs: counts, duration and rejected records."""
    target = _target(stack_name, region, state_dir)
    for run in _guarded(lambda: _manage_jobs(target).runs(job_id, limit)):
        _print_run(run)


def _print_run(run: JobRun) -> None:
    c = run.counters
    took = f"{run.duration.total_seconds():.1f} s" if run.duration else "running"
    console.print(
        f"[bold]{run.run_id}[/bold] {run.started_at.isoformat(timespec='seconds')} "
        f"{run.status.value} ({took}): "
        f"added {c.added}, updated {c.updated}, unchanged {c.unchanged}, skipped {c.skipped}, "
        f"rejected {c.rejected}",
        highlight=False,
    )
    if run.error:
        console.print(f"    error: {run.error}", markup=False, highlight=False)
    for rejection in run.rejections[:20]:
        console.print(f"    {rejection.where}: {rejection.reason}", markup=False, highlight=False)
    if len(run.rejections) > 20:
        console.print(f"    ... and {len(run.rejections) - 20} more rejected records")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
