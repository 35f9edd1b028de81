"""Unit data shown to the operator (terminal, logs, artifacts) is shown, never interpreted.

A unit controls cell text and file names: control characters could forge lines or move the cursor,
bidi marks could reverse what the operator reads, and rich markup (`[/x]`) could break the terminal
output. Everything unit-supplied goes through `shown()` before it is printed or logged.
"""

from __future__ import annotations

import unicodedata

# Bidi embeddings, overrides and isolates, and the invisible direction marks.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def shown(text: object, limit: int = 500) -> str:
    """The text with every control, format and bidi character made visible as <U+XXXX>, cut at `limit`."""
    out = []
    for ch in str(text if text is not None else ""):
        if ch in _BIDI or (unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and ch != " "):
            out.append(f"<U+{ord(ch):04X}>")
        else:
            out.append(ch)
    s = "".join(out)
    return s if len(s) <= limit else s[: limit - 1] + "…"
