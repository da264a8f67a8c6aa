"""The local mail sink: an SMTP server on loopback that keeps every mail as files you can open.

Each message lands in ``<state dir>/mail/`` as ``NNNN-<recipient>.eml`` (any mail
client opens it) and ``NNNN-<recipient>.html`` (its HTML part, for a browser).
The Mail function reaches it through the template's SMTP parameters, like any
SMTP provider: nothing in the function knows it is local.
"""

from __future__ import annotations

import re
import threading
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from contactsync_ops.local_stack.loopback_ports import pick_free_port


class _SavingHandler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        recipient = re.sub(r"[^A-Za-z0-9@._-]", "_", (envelope.rcpt_tos or ["unknown"])[0])[:80]
        with self._lock:
            number = len(list(self.folder.glob("*.eml"))) + 1
            stem = self.folder / f"{number:04d}-{recipient}"
            stem.with_suffix(".eml").write_bytes(envelope.original_content or envelope.content)
            html = message.get_body(preferencelist=("html",)) if isinstance(message, EmailMessage) else None
            if html is not None:
                stem.with_suffix(".html").write_text(html.get_content(), encoding="utf-8")
        return "250 Message accepted for delivery"


class MailSink:
    def __init__(self, folder: Path, port: int = 0) -> None:
        self.folder = folder
        self.port = port or pick_free_port()
        self._controller: Controller | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(_SavingHandler(self.folder), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def read_mails(folder: Path) -> list[EmailMessage]:
    """Every mail in the sink, oldest first (for tests and the CLI)."""
    parser = BytesParser(policy=policy.default)
    mails: list[EmailMessage] = []
    for path in sorted(folder.glob("*.eml")):
        parsed = parser.parsebytes(path.read_bytes())
        if isinstance(parsed, EmailMessage):
            mails.append(parsed)
    return mails
