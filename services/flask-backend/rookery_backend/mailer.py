"""Outgoing e-mail over SMTP. With no MAIL_SERVER configured the message is logged instead
(development), and callers can tell the user so."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from .config import Settings

log = logging.getLogger("rookery.mail")


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return bool(self.settings.mail_server)

    def send(self, recipient: str, subject: str, body: str) -> bool:
        """Send a plain-text message; False when it could only be logged or failed."""
        s = self.settings
        if not self.configured:
            log.warning(
                "no MAIL_SERVER configured; the message is logged instead",
                extra={"to": recipient, "subject": subject, "body": body},
            )
            return False
        message = EmailMessage()
        message["From"] = s.mail_sender
        message["To"] = recipient
        message["Subject"] = subject
        message.set_content(body)
        smtp_class = smtplib.SMTP_SSL if s.mail_use_ssl else smtplib.SMTP
        try:
            with smtp_class(s.mail_server, s.mail_port, timeout=10) as smtp:
                if s.mail_use_tls and not s.mail_use_ssl:
                    smtp.starttls()
                if s.mail_username:
                    smtp.login(s.mail_username, s.mail_password)
                smtp.send_message(message)
            return True
        except (OSError, smtplib.SMTPException) as error:
            log.error("sending mail failed", extra={"to": recipient, "error": str(error)})
            return False
