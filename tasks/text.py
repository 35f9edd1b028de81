"""Vietnamese text normalisation: every input goes through here before it is compared or stored."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")

# TCVN3 (ABC) as shown through .VnTime fonts: each byte is stored as the Latin-1 character of that code.
# Only the letters ABC defines; uppercase letters with tone marks live in .VnTimeH and read as lowercase.
_TCVN3 = str.maketrans(
    "¡¢£¤¥¦§¨©ª«¬\xad®µ¶·¸¹»¼½¾ÆÇÈÉÊËÌÎÏÐÑÒÓÔÕÖ×ØÜÝÞßáâãäåæçèéêëìíîïñòóôõö÷øùúûüýþ",
    "ĂÂÊÔƠƯĐăâêôơưđàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ",
)
_TCVN3_MARKERS = set("¡¢£¤¥¦§¨©ª«¬\xad®µ¶·¸¹»¼½¾")  # symbols no Unicode Vietnamese text uses
_VIETNAMESE = re.compile(r"[ăâêôơưđĂÂÊÔƠƯĐ\u1ea0-\u1ef9]")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def from_legacy(text: str) -> tuple[str, bool]:
    """Text typed in a TCVN3 font ('B¶o Th¾ng') back to Unicode ('Bảo Thắng'); (text, converted?)."""
    if _VIETNAMESE.search(text) or not any(ch in _TCVN3_MARKERS for ch in text):
        return text, False
    return text.translate(_TCVN3), True


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
