"""Email over SMTP with the standard library.

``security``: ``starttls`` (port 587, upgrade after EHLO), ``ssl`` (implicit TLS, port 465)
or ``none`` (a relay on the plant network, and the tests' local server). The subject is
UTF-8 (RFC 2047 encoded by :mod:`email`), the body plain text in the recipient's language
with the link to the console page.

A refused recipient (5xx) is permanent; a connection failure or 4xx is retried.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import ClassVar

from plantguard.notifications.channels.base import ChannelConfig, DeliveryError, OutMessage

SMTP_TIMEOUT_S = 15.0


def build(message: OutMessage, sender: str, sender_name: str = "PlantGuard") -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"[{message.level}] {message.title}" if message.level else message.title
    msg["From"] = formataddr((sender_name, sender))
    msg["To"] = message.to
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "plantguard.local")
    lines = [message.title, "", *message.body.splitlines()]
    if message.link:
        lines += ["", f"{message.link_label}: {message.link}"]
    msg.set_content("\n".join(lines), charset="utf-8")
    return msg


class EmailChannel:
    kind: ClassVar[str] = "email"

    def __init__(self, config: ChannelConfig) -> None:
        s = config.settings
        self.host = str(s.get("host") or "")
        self.port = int(s.get("port") or 0)
        self.username = str(s.get("username") or "")
        self.sender = str(s.get("sender") or "")
        self.sender_name = str(s.get("sender_name") or "PlantGuard")
        self.security = str(s.get("security") or "starttls")
        self.password = config.secret
        if not self.host or not self.sender:
            raise DeliveryError("SMTP channel needs a host and a sender address", permanent=True)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port or 465, timeout=SMTP_TIMEOUT_S,
                                    context=ssl.create_default_context())
        smtp = smtplib.SMTP(self.host, self.port or (587 if self.security == "starttls" else 25),
                            timeout=SMTP_TIMEOUT_S)
        if self.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def send(self, message: OutMessage) -> None:
        if not message.to:
            raise DeliveryError("recipient has no email address", permanent=True)
        msg = build(message, self.sender, self.sender_name)
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [c for c, _m in exc.recipients.values()]
            raise DeliveryError(f"recipient refused: {codes}", permanent=all(c >= 500 for c in codes)) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP authentication failed ({exc.smtp_code})", permanent=True) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}", permanent=exc.smtp_code >= 500) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP: {type(exc).__name__}: {exc}") from None
