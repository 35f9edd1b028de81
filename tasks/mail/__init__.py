"""Mail channel: compose report mails, send them over SMTP in batches, collect replies over IMAP."""

from tasks.mail.compose import Attachment, ComposedMessage, OutgoingMail, compose_message

__all__ = ["Attachment", "ComposedMessage", "OutgoingMail", "compose_message"]
