"""Real local servers (aiosmtpd SMTP, rootless Dovecot IMAP) for integration tests; loopback only."""
