"""Vietnamese text normalisation: every input goes through here before it is compared or stored."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def clean(text: str) -> str:
    """NFC, trimmed, inner whitespace collapsed (non-breaking spaces included)."""
    return _SPACES.sub(" ", nfc(text).replace("\u00a0", " ")).strip()


def label_key(text: str) -> str:
    """A form for matching labels typed by people: 'Mã đơn vị:' == ' mã  ĐƠN VỊ '."""
    return clean(text).rstrip(":").strip().casefold()


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    out = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def a1(row: int, col: int) -> str:
    return f"{column_letter(col)}{row + 1}"
