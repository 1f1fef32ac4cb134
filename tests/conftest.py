"""Session-wide settings that must exist before any test module imports Prefect.

Prefect reads ``PREFECT_API_URL`` / ``PREFECT_HOME`` once, when it is first imported (test collection
imports it). So the address of the session's Prefect server (started by ``tests/integration/conftest.py``
only when integration tests run) and a private ``PREFECT_HOME`` are fixed here, at import time: no test
ever uses the developer's ``~/.prefect`` or Prefect's temporary server.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from tests.prefect_server import free_port

PREFECT_PORT = free_port()
PREFECT_HOME = Path(tempfile.mkdtemp(prefix="factory-tests-prefect-"))
atexit.register(shutil.rmtree, PREFECT_HOME, True)
os.environ.update({
    "PREFECT_API_URL": f"http://127.0.0.1:{PREFECT_PORT}/api",
    "PREFECT_HOME": str(PREFECT_HOME / "client"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
})
