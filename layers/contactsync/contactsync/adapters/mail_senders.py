"""Mail transports: Amazon SES v2 in AWS, SMTP for any other provider (and the local mail sink).

Both send the same MIME message (multipart/alternative, text then HTML) with
the List-Unsubscribe headers; the Message-ID they return goes on the consent record.
"""

from __future__ import annotations

import smtplib
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from contactsync.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

    from contactsync.models.outgoing_mail import OutgoingMail


# Long ASCII headers (List-Unsubscribe URLs) must stay plain: fold at SMTP's limit, not at 78.
MAIL_POLICY = policy.SMTP.clone(max_line_length=998)


def build_mime(mail: OutgoingMail, message_id: str | None = None) -> EmailMessage:
    message = EmailMessage(policy=MAIL_POLICY)
    # The sender's domain names the message (make_msgid falls back to this host's name).
    sender_domain = mail.from_address.rpartition("@")[2] or None
    message["Message-ID"] = message_id or make_msgid(domain=sender_domain)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["From"] = formataddr((mail.from_name or "", mail.from_address))
    message["To"] = str(Address(addr_spec=mail.to_address)) if mail.to_address.isascii() else mail.to_address
    message["Subject"] = mail.subject
    for name, value in mail.headers.items():
        message[name] = value
    message.set_content(mail.text_body)
    message.add_alternative(mail.html_body, subtype="html")
    return message


class SesMailSender:
    """``MailSender`` on SES v2 (raw MIME, so our headers reach the recipient unchanged)."""

    def __init__(self, client: SESV2Client, configuration_set: str | None) -> None:
        self._client = client
        self._configuration_set = configuration_set

    def send(self, mail: OutgoingMail) -> str:
        raw = build_mime(mail).as_bytes()
        try:
            if self._configuration_set:
                response = self._client.send_email(
                    FromEmailAddress=mail.from_address,
                    Destination={"ToAddresses": [mail.to_address]},
                    Content={"Raw": {"Data": raw}},
                    ConfigurationSetName=self._configuration_set,
                )
            else:
                response = self._client.send_email(
                    FromEmailAddress=mail.from_address,
                    Destination={"ToAddresses": [mail.to_address]},
                    Content={"Raw": {"Data": raw}},
                )
        except (ClientError, BotoCoreError) as error:
            raise ServiceUnavailable("the mail service refused or failed") from error
        return str(response["MessageId"])


class SmtpMailSender:
    """``MailSender`` over SMTP (STARTTLS and login when configured)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        starttls: bool,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._starttls = starttls
        self._username = username
        self._password = password
        self._timeout = timeout

    def send(self, mail: OutgoingMail) -> str:
        message = build_mime(mail)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as connection:
                if self._starttls:
                    connection.starttls()
                if self._username and self._password:
                    connection.login(self._username, self._password)
                connection.send_message(message)
        except (smtplib.SMTPException, OSError) as error:
            raise ServiceUnavailable(f"SMTP delivery failed ({type(error).__name__})") from error
        return str(message["Message-ID"])
