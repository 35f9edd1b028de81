"""Nothing in baocao reaches the internet: Prefect's telemetry is switched off before Prefect is imported."""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # server telemetry (sens-o-matic.prefect.io)
    "DO_NOT_TRACK": "1",  # client SDK analytics (some Prefect 3 releases ignored the setting above)
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
}


def ensure_offline() -> None:
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
