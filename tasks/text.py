"""Vietnamese text normalisation: every input goes through here before it is compared or stored.

This is the only place that normalises to NFC, strips invisible characters and converts legacy 8-bit
font encodings (TCVN3, VNI), so every channel and every message sees text the same way.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

Legacy = Literal["TCVN3", "VNI"]

_SPACES = re.compile(r"\s+")


def nfc(text: str) -> str:
    """The one NFC normaliser: the same word typed on macOS (NFD) and on Windows compares equal."""
    return unicodedata.normalize("NFC", text)


# TCVN3 (ABC) as shown through .VnTime fonts: each byte is stored as the Latin-1 character of that code.
# Only the letters ABC defines; uppercase letters with tone marks live in .VnTimeH and read as lowercase.
_TCVN3 = str.maketrans(
    "¡¢£¤¥¦§¨©ª«¬\xad®µ¶·¸¹»¼½¾ÆÇÈÉÊËÌÎÏÐÑÒÓÔÕÖ×ØÜÝÞßáâãäåæçèéêëìíîïñòóôõö÷øùúûüýþ",
    "ĂÂÊÔƠƯĐăâêôơưđàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ",
)
_TCVN3_MARKERS = re.compile("[¡¢£¤¥¦§¨©ª«¬\xad®µ¶·¸¹»¼½¾]")  # symbols no Unicode Vietnamese text uses
_VIETNAMESE = re.compile(r"[ăâêôơưđĂÂÊÔƠƯĐ\u1ea0-\u1ef9]")


def _vni_table() -> dict[str, str]:
    """VNI-Windows (VNI-Times fonts): a base letter followed by one or two mark characters (á = 'aù')."""
    tones = ("", "\u0301", "\u0300", "\u0309", "\u0303", "\u0323")  # none, sắc, huyền, hỏi, ngã, nặng
    plain = ("", "ù", "ø", "û", "õ", "ï")
    circumflex = ("â", "á", "à", "å", "ã", "ä")  # â ê ô with each tone
    breve = ("ê", "é", "è", "ú", "ü", "ë")  # ă with each tone
    table: dict[str, str] = {}

    def add(vni: str, base: str, tone: int) -> None:
        table[vni] = nfc(base + tones[tone])
        table[vni.upper()] = nfc(base.upper() + tones[tone])

    for t in range(1, 6):
        for v in "aeouy":
            add(v + plain[t], v, t)
        add("ô" + plain[t], "ơ", t)
        add("ö" + plain[t], "ư", t)
    for t in range(6):
        for v in "aeo":
            add(v + circumflex[t], v + "\u0302", t)
        add("a" + breve[t], "a\u0306", t)
    for vni, uni in zip("íìæóò", "íìỉĩị", strict=True):
        table[vni], table[vni.upper()] = uni, uni.upper()
    table.update({"ô": "ơ", "Ô": "Ơ", "ö": "ư", "Ö": "Ư", "ñ": "đ", "Ñ": "Đ", "î": "ỵ", "Î": "Ỵ"})
    return table


_VNI = _vni_table()
_VNI_PATTERN = re.compile("|".join(re.escape(k) for k in sorted(_VNI, key=len, reverse=True)))
# two-character VNI sequences (a vowel and a mark), the evidence the heuristic wants
_VNI_PAIRS = re.compile("[aeouyAEOUYôöÔÖ][ùøûõïâáàåãäêéèúüëÙØÛÕÏÂÁÀÅÃÄÊÉÈÚÜË]")
_NOT_VNI = re.compile(r"[ăĂơƠưƯđĐ\u1ea0-\u1ef9]")  # letters a VNI byte never produces

# invisible characters a unit never means to send: C0/C1 controls (tab and newline kept), format
# characters (bidi embeddings, overrides and isolates, LRM/RLM, zero-width, BOM, soft hyphen), surrogates
_LINE_BREAKS = {"\r\n": "\n", "\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x85": "\n"}
_BREAKS = re.compile("|".join(map(re.escape, _LINE_BREAKS)))


# Cc (but tab and newline), Cf and Cs as of Unicode 15, written out: deriving them from unicodedata costs
# a quarter of a second at every import, in every worker
_INVISIBLE_CLASS = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)


def _invisible() -> re.Pattern[str]:
    return re.compile(f"[{_INVISIBLE_CLASS}]")


_INVISIBLE = _invisible()


class LegacyText(str):
    """Cell text, as typed, in a cell whose font is a legacy 8-bit font (.VnTime… → TCVN3, VNI-Times… → VNI):
    the font, not a guess, says how to read it. Converted where it is stored (normalise_text), and only
    when it is not Unicode Vietnamese already (text pasted into an old workbook keeps its letters)."""

    encoding: Legacy

    def __new__(cls, text: str, encoding: Legacy) -> LegacyText:
        obj = super().__new__(cls, text)
        obj.encoding = encoding
        return obj

    def __reduce__(self) -> tuple[type[LegacyText], tuple[str, Legacy]]:
        return LegacyText, (str(self), self.encoding)


def font_encoding(font_name: str | None) -> Legacy | None:
    """The legacy encoding a cell's font implies: '.VnTime', '.VnArialH' → TCVN3; 'VNI-Times' → VNI."""
    name = (font_name or "").strip().casefold()
    if name.startswith(".vn"):
        return "TCVN3"
    if name.startswith("vni-") or name.startswith("vni "):
        return "VNI"
    return None


def convert_legacy(text: str, encoding: Legacy) -> str:
    """Legacy-encoded text to Unicode NFC; VNI matches its longest sequences first."""
    if encoding == "TCVN3":
        return nfc(text.translate(_TCVN3))
    return nfc(_VNI_PATTERN.sub(lambda m: _VNI[m[0]], text))


def detect_legacy(text: str) -> Legacy | None:
    """A conservative guess for text without a font name: TCVN3 needs one of its marker symbols, VNI at
    least two vowel-and-mark pairs; any real Vietnamese letter means the text is Unicode already."""
    if _TCVN3_MARKERS.search(text) and not _VIETNAMESE.search(text):
        return "TCVN3"
    if not _NOT_VNI.search(text) and len(_VNI_PAIRS.findall(text)) >= 2:
        return "VNI"
    return None


def _unicode_already(text: str, encoding: Legacy) -> bool:
    """Letters the legacy bytes never produce: the text was typed (or pasted) as Unicode."""
    return bool((_VIETNAMESE if encoding == "TCVN3" else _NOT_VNI).search(text))


def legacy_encoding(text: str) -> Legacy | None:
    """How to read this text: its cell font's encoding when known (unless it is Unicode already), else
    the conservative guess."""
    if isinstance(text, LegacyText):
        return None if _unicode_already(text, text.encoding) else text.encoding
    return detect_legacy(text)


def from_legacy(text: str, encoding: Legacy | None = None) -> tuple[str, bool]:
    """Text typed in a legacy font back to Unicode ('B¶o Th¾ng' → 'Bảo Thắng'); (text, converted?).
    With no encoding given, the cell's font (LegacyText) or the heuristic decides."""
    enc = encoding or legacy_encoding(text)
    if enc is None:
        return str(text), False
    out = convert_legacy(str(text), enc)
    return out, out != text


@dataclass(frozen=True)
class CleanText:
    """Text ready to store, and what was done to it (so the unit can be told)."""

    text: str
    legacy: Legacy | None = None
    removed: tuple[str, ...] = field(default_factory=tuple)  # 'U+202E' for each distinct removed character


def strip_invisible(text: str) -> tuple[str, tuple[str, ...]]:
    """Controls and bidi/format characters removed (newlines unified, tabs kept); (text, removed code points)."""
    if "\r" in text or "\u2028" in text or "\u2029" in text or "\x85" in text:
        text = _BREAKS.sub(lambda m: _LINE_BREAKS[m[0]], text)
    found = _INVISIBLE.findall(text)
    if not found:
        return text, ()
    return _INVISIBLE.sub("", text), tuple(dict.fromkeys(f"U+{ord(ch):04X}" for ch in found))


def normalise_text(text: str) -> CleanText:
    """A unit's text as it is stored: legacy fonts converted, NFC, invisible characters removed, trimmed."""
    body, converted = from_legacy(LegacyText(nfc(text), text.encoding) if isinstance(text, LegacyText) else nfc(text))
    legacy = legacy_encoding(text) if converted else None
    body, removed = strip_invisible(body)
    return CleanText(nfc(body).strip(), legacy, removed)


def clean(text: str) -> str:
    """NFC, invisible characters removed, trimmed, inner whitespace collapsed (non-breaking spaces too).
    Short texts (labels, codes: the same in every unit's workbook) are remembered, as in label_key."""
    return _short_clean(str(text)) if len(text) <= _LABEL_CACHE_CHARS else _clean(text)


def _clean(text: str) -> str:
    return _SPACES.sub(" ", strip_invisible(nfc(text))[0].replace("\u00a0", " ")).strip()


_short_clean = lru_cache(maxsize=8192)(_clean)


def label_key(text: str) -> str:
    """A form for matching labels typed by people: 'Mã đơn vị:' == ' mã  ĐƠN VỊ '.

    Every string cell of every file goes through here, and the same labels recur in every unit's workbook:
    short texts are remembered (a bounded cache), long ones (narratives) are computed each time."""
    return _short_label_key(text) if len(text) <= _LABEL_CACHE_CHARS else _label_key(text)


_LABEL_CACHE_CHARS = 200


_NOT_WORD = re.compile(r"[\W_]+")


def search_key(text: str) -> str:
    """A form for finding names typed in a hurry: "Đền 'Mẫu'" == 'den mau' (no marks, đ as d, any case,
    punctuation as spaces)."""
    stripped = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return " ".join(_NOT_WORD.sub(" ", stripped.replace("đ", "d").replace("Đ", "D").casefold()).split())


def _label_key(text: str) -> str:
    return clean(text).rstrip(":").strip().casefold()


_short_label_key = lru_cache(maxsize=8192)(_label_key)


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    out = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


@lru_cache(maxsize=8192)  # every labelled cell of every file: the template's few hundred positions
def a1(row: int, col: int) -> str:
    return f"{column_letter(col)}{row + 1}"
