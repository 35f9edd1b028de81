"""Who really sent a mail, as far as its headers can tell, judged strictly.

A mail counts for a unit only when its sender is unambiguous: exactly one From header holding exactly one
plain address ("addr@domain" or "Name <addr@domain>", one "@" in the whole header, no comments, no groups,
no quoted local part). Lenient parsers (email.utils.parseaddr, the email package's header registry) read
``vanphong@snv.tuyenquang.gov.vn (x) <evil@x.com>`` or ``<vp@snv…>@evil.com`` as the Office's address,
which is exactly what a forger wants, so nothing here relies on them.

Beyond the From header:
- every Sender and Return-Path header must be of the From address's domain (or a subdomain of it, or it of
  them); a null Return-Path ``<>`` carries no domain and is not held against the mail;
- ``Authentication-Results`` headers count only when their authserv-id is the Office's own mail server
  (``channels.imap.authserv_id``); any other relay's results, or all of them when no id is configured, are
  ignored, since anyone can write such a header. A failing verdict is: spf = fail, softfail or permerror;
  dkim = fail, permerror or policy for a signature of the From domain (``header.d``) or without a domain;
  dmarc = fail or permerror. ``none``, ``neutral`` and ``temperror`` (the DNS was down) are not failures:
  many small domains publish no SPF or DKIM at all. A forged "pass" cannot cancel a real "fail", because any
  failing verdict from the Office's server is enough.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.header import decode_header, make_header

LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
DOMAIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
ADDRESS = re.compile(rf"(?P<local>{LOCAL})@(?P<domain>{DOMAIN})")
_BARE = re.compile(rf"\s*(?P<addr>{LOCAL}@{DOMAIN})\s*")
_QUOTED = r'"(?:[^"\\\r\n]|\\.)*"'
_ATOMS = r"[^\"()<>@,;:\\\[\]\r\n]+"  # words of a display name, encoded-words and UTF-8 included
_NAMED = re.compile(rf"\s*(?P<name>{_QUOTED}|{_ATOMS})?\s*<\s*(?P<addr>{LOCAL}@{DOMAIN})\s*>\s*")
MAX_SHOWN = 160

FAILING = {
    "spf": {"fail", "softfail", "permerror"},
    "dkim": {"fail", "permerror", "policy"},
    "dmarc": {"fail", "permerror"},
}


@dataclass(frozen=True)
class SenderCheck:
    """The From address when it is one plain address, and why the mail must be quarantined, if it must."""

    address: str | None
    problem: str | None


def shown(value: str) -> str:
    """A header value as the operator may see it: one line, no control characters, bounded."""
    text = "".join(ch if ch.isprintable() else " " for ch in value)
    text = " ".join(text.split())
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _raw_headers(raw: bytes, name: str) -> list[str]:
    """All values of a header exactly as written (unfolded), without any address interpretation."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    wanted = name.lower()
    values = [v for k, v in msg.raw_items() if k.lower() == wanted]
    # 8-bit bytes arrive surrogate-escaped; read them as UTF-8 (RFC 6532), anything else as U+FFFD
    return [re.sub(r"\r?\n[ \t]", " ", str(v)).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            for v in values]


def _decoded(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def parse_single_address(value: str) -> tuple[str | None, str | None]:
    """(address, None) for one plain address, else (None, why in Vietnamese)."""
    text = value
    if text.count("@") != 1:
        return None, f"có {text.count('@')} ký tự @ (phải đúng một địa chỉ)"
    if match := _BARE.fullmatch(text):
        return match["addr"].lower(), None
    match = _NAMED.fullmatch(text)
    if match is None:
        if "(" in text or ")" in text:
            return None, "có chú thích trong ngoặc đơn"
        if ":" in text and ";" in text:
            return None, "là một nhóm địa chỉ"
        return None, "không phải một địa chỉ thư đơn giản"
    name = _decoded(match["name"] or "")
    if "@" in name or "<" in name or ">" in name:
        return None, "tên hiển thị chứa địa chỉ thư khác"
    return match["addr"].lower(), None


def from_address(raw: bytes) -> SenderCheck:
    """The one plain From address of a mail, or the reason there is none (missing, several, ambiguous)."""
    values = _raw_headers(raw, "From")
    if not values:
        return SenderCheck(None, "Thư không có tiêu đề From (người gửi); không xác định được người gửi.")
    if len(values) > 1:
        listing = "; ".join(shown(v) for v in values)
        return SenderCheck(None, f"Thư có {len(values)} tiêu đề From ({listing}); không xác định được người gửi "
                                 f"thật.")
    address, why = parse_single_address(values[0])
    if address is None:
        return SenderCheck(None, f"Tiêu đề From «{shown(values[0])}» {why}; không xác định được người gửi thật.")
    return SenderCheck(address, None)


def claimed_sender(raw: bytes) -> str:
    """What the From header says, for the operator, when it is not one plain address."""
    values = _raw_headers(raw, "From")
    return shown(" | ".join(values))[:320] if values else ""


def aligned(domain: str, other: str) -> bool:
    """Same domain, or one a subdomain of the other (mail.snv.gov.vn and snv.gov.vn)."""
    a, b = domain.lower().rstrip("."), other.lower().rstrip(".")
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def _strip_comments(value: str) -> str:
    """Remove (comments) outside quoted strings, nested ones included."""
    out, depth, quoted, escaped = [], 0, False, False
    for ch in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if quoted:
            quoted = ch != '"'
            out.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth == 0:
            quoted = ch == '"'
            out.append(ch)
    return "".join(out)


def _split_semicolons(value: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts]


_RESULT = re.compile(r"(?P<method>[A-Za-z0-9_-]+)(?:/\d+)?\s*=\s*(?P<result>[A-Za-z]+)")
_HEADER_D = re.compile(r"\bheader\.d\s*=\s*\"?(?P<d>[A-Za-z0-9.-]+)", re.IGNORECASE)


def authentication_failures(raw: bytes, authserv_id: str | None, from_domain: str | None) -> list[str]:
    """'spf=fail', 'dmarc=fail' … as stated by the Office's own server in Authentication-Results."""
    if not authserv_id:
        return []
    wanted = authserv_id.strip().lower()
    failures: list[str] = []
    for value in _raw_headers(raw, "Authentication-Results"):
        parts = _split_semicolons(_strip_comments(value))
        head = parts[0].split()
        if not head or head[0].lower() != wanted:
            continue  # another relay's results: anyone can write those
        for resinfo in parts[1:]:
            match = _RESULT.match(resinfo)
            if match is None:
                continue
            method, result = match["method"].lower(), match["result"].lower()
            if result not in FAILING.get(method, ()):
                continue
            if method == "dkim" and from_domain and (d := _HEADER_D.search(resinfo)):
                if not aligned(d["d"], from_domain):
                    continue  # a third party's signature (a list, a forwarder) says nothing about the sender
            verdict = f"{method}={result}"
            if verdict not in failures:
                failures.append(verdict)
    return failures


def _domain_of(value: str) -> tuple[str | None, bool]:
    """(domain, parsed): the domain of a Sender/Return-Path value; (None, True) for the null path <>."""
    text = _strip_comments(value).strip()
    if text in ("<>", ""):
        return None, True
    address, _ = parse_single_address(text)
    if address is None:
        return None, False
    return address.rsplit("@", 1)[1], True


def sender_problem(raw: bytes, authserv_id: str | None = None) -> str | None:
    """Why a mail must be quarantined for its sender (Vietnamese, for the operator), or None when it may count."""
    check = from_address(raw)
    if check.address is None:
        return check.problem
    domain = check.address.rsplit("@", 1)[1]
    for header in ("Sender", "Return-Path"):
        for value in _raw_headers(raw, header):
            other, parsed = _domain_of(value)
            if not parsed:
                return (f"Tiêu đề {header} «{shown(value)}» không phải một địa chỉ thư đơn giản; không xác định "
                        f"được người gửi thật.")
            if other is not None and not aligned(other, domain):
                return (f"Tiêu đề {header} «{shown(value)}» thuộc tên miền {other}, khác tên miền của người gửi "
                        f"{check.address}; thư có thể bị giả mạo.")
    failures = authentication_failures(raw, authserv_id, domain)
    if failures:
        return (f"Máy chủ thư của Văn phòng ({authserv_id}) xác thực thư từ {check.address} không đạt: "
                f"{', '.join(failures)}; thư có thể bị giả mạo.")
    return None
