"""The Prefect side of baocao. Importing the package switches Prefect's telemetry off before Prefect loads."""

from flows.offline import ensure_offline

ensure_offline()
