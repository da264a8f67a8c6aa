"""`contactsync`: the operator's one entry point (local stack, sources, status)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from contactsync.adapters.dynamodb_configuration import DynamoSourceRepository
from contactsync.adapters.dynamodb_consent import DynamoConsentLedger
from contactsync.adapters.dynamodb_contacts import DynamoContactRepository
from contactsync.adapters.dynamodb_guards import DynamoSuppressionList
from contactsync.adapters.secret_values import CachedSecret
from contactsync.adapters.source_signing_secrets import SecretsManagerSourceSigningSecrets
from contactsync.adapters.sqs_change_publisher import SqsChangePublisher
from contactsync.domain.field_mapping import FieldMapping
from contactsync.domain.source import AuthMode, ConsentMode
from contactsync.errors import ClientError, SourceNotFound
from contactsync.use_cases.contact_records import ContactRecords
from contactsync.use_cases.manage_sources import IssuedCredential, ManageSources, SourceSettings
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
    mapping: Annotated[Path | None, typer.Option(help="JSON file with the field mapping")] = None,
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
            field_mapping=FieldMapping.model_validate_json(mapping.read_text(encoding="utf-8"))
            if mapping
            else FieldMapping(),
        )
        issued = _manage_sources(target).register(source_id, settings)
    except ValidationError as invalid:
        first = invalid.errors()[0]
        console.print(f"[red]invalid source: {'.'.join(map(str, first['loc']))}: {first['msg']}[/red]")
        raise typer.Exit(2) from None
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
    console.print_json(contact.model_dump_json())


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
