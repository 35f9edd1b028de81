"""The clients below the channels: mail (compose, SMTP, IMAP) and the Google Sheets gateway."""
