"""Unit links: a signed, unguessable token bound to one unit, report and period (the web channel's request).

It carries no other access; the pages check on every use that its period is still open. The secret comes
from the environment or a Prefect Secret block (flows/web/security.py), never from config.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

UNIT_LINK_SALT = "baocao.unit-link.v1"


@dataclass(frozen=True)
class UnitLink:
    unit: str
    report_id: str
    period: str


def unit_token(secret: str, unit: str, report_id: str, period: str) -> str:
    return URLSafeSerializer(secret, salt=UNIT_LINK_SALT).dumps({"u": unit, "r": report_id, "p": period})


def read_unit_token(secret: str, token: str) -> UnitLink | None:
    """The unit, report and period a token was signed for; None when forged or damaged."""
    if len(token) > 400:
        return None
    try:
        data = URLSafeSerializer(secret, salt=UNIT_LINK_SALT).loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("u", "r", "p")):
        return None
    return UnitLink(data["u"], data["r"], data["p"])
