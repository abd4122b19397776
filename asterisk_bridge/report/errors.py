"""Errors of the reports: the period asked for, the summary templates, the mail; ``ReportError``
is the area's root. Each message names what an admin has to fix (the time zone, the template and
its directory, the SMTP server)."""

from __future__ import annotations

from pathlib import Path

from ..errors import AsteriskBridgeError


class ReportError(AsteriskBridgeError):
    """Base class of every report error."""


class PeriodError(ReportError, ValueError):
    """A period that cannot be reported on (end before start, unknown time zone)."""


class SummaryTemplateError(ReportError):
    """A summary template is missing or broken; the message names the directory and the template."""

    def __init__(self, directory: Path | str, template: str, reason: str) -> None:
        self.directory = str(directory)
        self.template = template
        super().__init__(f"summary template {template!r} in {self.directory}: {reason}")


class MailError(ReportError):
    """The summary could not be handed to the SMTP server (the message names the server)."""


class MailNotConfiguredError(MailError):
    """``smtp.host``, ``smtp.sender`` or ``smtp.recipients`` is missing."""
