"""Mail channel: compose report mails, send them over SMTP in batches, collect replies over IMAP."""

from tasks.transports.mail.compose import Attachment, ComposedMessage, OutgoingMail, compose_message
from tasks.transports.mail.errors import MailTransportError
from tasks.transports.mail.imap import ImapLoginError, ImapMailbox, ImapSettings, IncomingMail, watch
from tasks.transports.mail.smtp import SendOutcome, SmtpBatchSender, SmtpSettings

__all__ = [
    "Attachment",
    "ComposedMessage",
    "ImapLoginError",
    "ImapMailbox",
    "ImapSettings",
    "IncomingMail",
    "MailTransportError",
    "OutgoingMail",
    "SendOutcome",
    "SmtpBatchSender",
    "SmtpSettings",
    "compose_message",
    "watch",
]
