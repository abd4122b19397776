"""The summary as a multipart/alternative email, sent through the configured SMTP server.

Plain text first and HTML second (RFC 2046: the last part is the preferred one), both from the
same figures, so a client that blocks HTML still shows every number. aiosmtplib keeps the event
loop free and gives a real timeout; the password only ever goes to ``login``.

``Date`` carries the configured zone's offset (the summary's days are that zone's days; a bare
``-0000`` tells the reader the zone is unknown). ``Auto-Submitted: auto-generated`` (RFC 3834)
and ``X-Auto-Response-Suppress`` (Exchange) keep vacation responders from answering a report
nobody reads replies to.
"""

from __future__ import annotations

import time
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

import aiosmtplib

from asterisk_bridge.config import SMTPSettings

from .errors import MailError, MailNotConfiguredError


def build_message(smtp: SMTPSettings, subject: str, text: str, html: str, *, timezone: str,
                  now: float | None = None) -> EmailMessage:
    """The summary email; ``timezone`` (the configuration's) gives ``Date`` its offset."""
    if not smtp.host or not smtp.sender or not smtp.recipients:
        raise MailNotConfiguredError("cannot mail the summary: set smtp.host, smtp.sender and smtp.recipients")
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = smtp.sender
    msg["To"] = ", ".join(smtp.recipients)
    msg["Date"] = format_datetime(datetime.fromtimestamp(time.time() if now is None else now, ZoneInfo(timezone)))
    msg["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2].strip("> ") or None)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


async def send_message(smtp: SMTPSettings, msg: EmailMessage) -> None:
    """Deliver ``msg`` (STARTTLS / implicit TLS / plain as configured); raises :class:`MailError`."""
    if not smtp.host:
        raise MailNotConfiguredError("cannot mail the summary: smtp.host is not set")
    try:
        await aiosmtplib.send(
            msg,
            hostname=smtp.host,
            port=smtp.port,
            use_tls=smtp.security == "ssl",
            start_tls=True if smtp.security == "starttls" else False,
            username=smtp.username,
            password=smtp.password if smtp.username else None,
            timeout=smtp.timeout,
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise MailError(f"SMTP {smtp.host}:{smtp.port} ({smtp.security}): {type(exc).__name__}: {exc}") from exc
