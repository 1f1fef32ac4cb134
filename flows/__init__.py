"""Prefect flows: one per stage (``mine``, ``build``, ``validate``, ``export``) and ``pipeline`` chaining them.

Every task wraps the library function the CLI would call; no stage logic lives here. Importing this package
imports Prefect (about 2 s), so the CLI imports it only inside the commands that run a flow.
"""

import os

# Offline and air-gapped hosts: Prefect's telemetry would log a DNS failure on every temporary server
# start, and a cold temporary server on a slow CI machine can need more than Prefect's 20 s default.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
