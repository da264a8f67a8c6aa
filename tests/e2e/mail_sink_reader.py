"""Reading the local mail sink the way a person reads their inbox: find the mail, follow its links."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage
from pathlib import Path

from contactsync_ops.local_stack.mail_sink import read_mails


def mails_to(mail_dir: Path, address: str) -> list[EmailMessage]:
    return [mail for mail in read_mails(mail_dir) if str(mail["To"]).lower() == address.lower()]


def wait_for_mail(mail_dir: Path, address: str, count: int = 1, timeout: float = 30.0) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = mails_to(mail_dir, address)
        if len(found) >= count:
            return found[count - 1]
        time.sleep(0.2)
    raise AssertionError(f"no mail #{count} to {address} in {mail_dir} after {timeout}s")


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def link_in(mail: EmailMessage, kind: str) -> str:
    """The confirm or unsubscribe URL printed in the text part."""
    match = re.search(rf"http://\S+/v1/{kind}/[A-Za-z0-9_-]+", text_of(mail))
    assert match, f"no {kind} link in the mail"
    return match.group(0)
