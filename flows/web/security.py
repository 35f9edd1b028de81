"""Secrets, sessions, CSRF tokens, unit links and login rate limiting for the Office's pages.

The signing secret comes from the environment (BAOCAO_WEB_SECRET by default) or a Prefect Secret block
named in settings; it is never read from config. Only demo and test runs may generate a random one.

A unit link (`/nop/<token>`) is the only thing a unit needs: a signed, unguessable token bound to the
unit, the report and the period. It carries no other access, and it stops working when the period closes
(the report deadline has passed or the report was delivered), which the server checks on every use.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tasks.approvals import burn_verify, recent_failures, record_login, verify_password
from tasks.config import Web, WebAccount
from tasks.ledger import Ledger
from tasks.links import UNIT_LINK_SALT, UnitLink, read_unit_token, unit_token  # noqa: F401

CSRF_SESSION_KEY = "csrf"
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)


class WebSecretMissing(RuntimeError):
    """No signing secret configured: the pages refuse to start (outside demo and tests)."""


def load_secret(web: Web, demo: bool = False) -> str:
    """The signing secret: environment variable, else Prefect Secret block, else (demo/test only) random."""
    value = os.environ.get(web.secret_env, "").strip()
    if not value and web.secret_block:
        try:
            from prefect.blocks.system import Secret

            value = str(Secret.load(web.secret_block).get()).strip()  # type: ignore[union-attr]
        except Exception as exc:  # the block's content is never shown
            raise WebSecretMissing(f"Không đọc được khối Secret '{web.secret_block}' của Prefect "
                                   f"({type(exc).__name__}).") from None
    if value:
        if len(value) < 32:
            raise WebSecretMissing(f"Khóa ký {web.secret_env} quá ngắn: cần ít nhất 32 ký tự ngẫu nhiên "
                                   "(ví dụ: python -c 'import secrets; print(secrets.token_urlsafe(48))').")
        return value
    if demo:
        return secrets.token_urlsafe(48)
    raise WebSecretMissing(f"Chưa có khóa ký phiên đăng nhập: đặt biến môi trường {web.secret_env} "
                           "(ít nhất 32 ký tự ngẫu nhiên) hoặc khai báo web.secret_block (khối Secret của Prefect).")


# ------------------------------------------------------------------ unit links: tasks/links.py


def unit_link_url(base_url: str, secret: str, unit: str, report_id: str, period: str) -> str:
    """The unit's own link, for the request and reminder mails."""
    return f"{base_url.rstrip('/')}/nop/{unit_token(secret, unit, report_id, period)}"


def link_open(today: date, report_deadline: date, delivered: bool) -> bool:
    """A unit link works until the period closes: after the report deadline, or once delivered."""
    return not delivered and today <= report_deadline


# ------------------------------------------------------------------ CSRF


def csrf_token(session: dict) -> str:
    token = session.get(CSRF_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def csrf_ok(session: dict, submitted: str | None) -> bool:
    expected = session.get(CSRF_SESSION_KEY)
    return bool(expected and submitted and hmac.compare_digest(str(expected), str(submitted)))


# ------------------------------------------------------------------ login


@dataclass(frozen=True)
class LoginResult:
    account: WebAccount | None
    locked_minutes: int = 0  # > 0: too many failures, try again after this long


def authenticate(ledger: Ledger, accounts: tuple[WebAccount, ...], username: str, password: str, ip: str,
                 now: datetime | None = None) -> LoginResult:
    """Check a login; at most MAX_FAILURES failures per username and address in FAILURE_WINDOW."""
    user = username.strip().lower()
    failures, oldest = recent_failures(ledger, user, ip, FAILURE_WINDOW, now)
    if failures >= MAX_FAILURES and oldest is not None:
        left = oldest + FAILURE_WINDOW - (now or datetime.now(oldest.tzinfo))
        return LoginResult(None, max(1, int(left.total_seconds() // 60) + 1))
    account = next((a for a in accounts if a.username.lower() == user), None)
    if account is None:
        burn_verify(password)
        ok = False
    else:
        ok = verify_password(account.password_hash, password)
    record_login(ledger, user or "(trống)", ip, ok, now)
    return LoginResult(account if ok else None)


def demo_accounts(password: str, signer: str = "Lãnh đạo Sở") -> tuple[WebAccount, ...]:
    """For `make demo` only: an operator `vanphong` and an approver `giamdoc` sharing one printed password."""
    from tasks.approvals import hash_password

    h = hash_password(password)
    return (WebAccount(username="vanphong", name="Văn phòng Sở", role="operator", password_hash=h),
            WebAccount(username="giamdoc", name=signer, role="approver", password_hash=h))
