"""The e-mails the portal sends itself: login links (through notify's transport, SMTP or outbox)."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from ledger.models import utcnow
from notify.transport import SendError, Transport
from portal.i18n import gettext
from schemas.settings import Settings

log = logging.getLogger("encaisse.portal")


def login_link_message(*, settings: Settings, to: str, link: str, lang: str, minutes: int) -> EmailMessage:
    """The e-mail carrying a single-use login link."""
    _ = lambda text: gettext(lang, text)  # noqa: E731
    message = EmailMessage()
    message["Subject"] = _("Your sign-in link") + f" – {settings.company_name}"
    message["From"] = settings.mail_from
    message["To"] = to
    message["Date"] = format_datetime(utcnow())
    domain = settings.mail_from.rpartition("@")[2].strip(" >") or "localhost"
    message["Message-ID"] = make_msgid("login", domain=domain)
    if settings.mail_reply_to:
        message["Reply-To"] = settings.mail_reply_to
    message.set_content(
        "\n".join(
            [
                _("Hello,"),
                "",
                _("Open this link to sign in to the portal:"),
                link,
                "",
                _("The link works once, for {minutes} minutes.").format(minutes=minutes),
                _("If you did not ask to sign in, ignore this message."),
            ]
        )
        + "\n"
    )
    return message


def send_quietly(transport: Transport, message: EmailMessage) -> None:
    """Send after the answer was given; a failure is logged (the user may ask again)."""
    try:
        transport.send(message)
    except SendError as exc:
        log.error("could not send the login link to %s: %s", message["To"], exc)
