"""Real local servers (aiosmtpd SMTP, rootless Dovecot IMAP) for integration tests; loopback only."""

import socket


def free_port() -> int:
    """Ask the kernel for a free high TCP port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
