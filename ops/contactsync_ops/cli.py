"""`contactsync`: the operator's one entry point (local stack, sources, status)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from contactsync.adapters.dynamodb_configuration import DynamoSourceRepository
from contactsync.domain.source import ConsentMode
from contactsync.errors import ClientError
from contactsync.use_cases.manage_sources import ManageSources
from contactsync_ops.stack_target import StackTarget, TargetNotFound, resolve_target

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


@sources_app.command("add")
def sources_add(
    source_id: Annotated[str, typer.Argument(help="lowercase id used in the webhook URL, e.g. shop")],
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    consent_mode: Annotated[ConsentMode, typer.Option(help="How contacts from it get consent")] = (
        ConsentMode.DOUBLE_OPT_IN
    ),
    language: Annotated[str, typer.Option(help="Default language of its contacts")] = "en",
    state_dir: StateDir = Path(".local"),
    stack_name: StackName = None,
    region: Region = None,
) -> None:
    """Register a source; prints its webhook URL and its bearer token (shown once)."""
    target = _target(stack_name, region, state_dir)
    manage = ManageSources(DynamoSourceRepository(target.dynamodb(), target.contacts_table))
    try:
        registered = manage.register(source_id, name or source_id, consent_mode, language)
    except ValidationError as invalid:
        console.print(
            f"[red]invalid source: {invalid.errors()[0]['loc'][0]}: {invalid.errors()[0]['msg']}[/red]"
        )
        raise typer.Exit(2) from None
    except ClientError as refused:
        console.print(f"[red]{refused.message}[/red]")
        raise typer.Exit(1) from None
    console.print(f"[green]Source {source_id} registered[/green] ({consent_mode.value}).")
    console.print(f"Webhook URL:  {_webhook_url(target, source_id)}")
    console.print(
        f"Bearer token: [bold]{registered.bearer_token}[/bold]  (shown once; store it in the sending tool)"
    )


@sources_app.command("list")
def sources_list(
    state_dir: StateDir = Path(".local"), stack_name: StackName = None, region: Region = None
) -> None:
    """List the sources with their consent mode and state."""
    target = _target(stack_name, region, state_dir)
    table = Table("id", "name", "consent mode", "language", "enabled", "created")
    for source in ManageSources(DynamoSourceRepository(target.dynamodb(), target.contacts_table)).list_all():
        table.add_row(
            source.source_id,
            source.name,
            source.consent_mode.value,
            source.default_language,
            "yes" if source.enabled else "no",
            source.created_at.date().isoformat(),
        )
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
