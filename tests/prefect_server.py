"""A real Prefect server on 127.0.0.1 for the integration tests and benchmarks (started, used, stopped).

Why not Prefect's temporary server: every ``factory build`` would start its own (about 10 s each), and a
``kill -9`` of the CLI would orphan it. One server per test session, with its own ``PREFECT_HOME``, is what
a user with ``prefect server start`` has — and never touches the user's ``~/.prefect``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class PrefectServer:
    api_url: str
    home: Path
    log_path: Path

    def env(self) -> dict[str, str]:
        """What a client (in-process or a subprocess) needs to use this server."""
        return {"PREFECT_API_URL": self.api_url, "PREFECT_HOME": str(self.home / "client"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def use_local_server(home: Path) -> int:
    """Point Prefect (this process and every subprocess) at a server about to run on a free port under
    ``home``; return that port. Prefect reads its settings at import: call this before anything imports it."""
    port = free_port()
    os.environ.update({"PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_HOME": str(home),
                       "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"})
    return port


def _prefect_cli() -> list[str]:
    script = Path(sys.executable).parent / "prefect"
    return [str(script)] if script.exists() else [sys.executable, "-m", "prefect"]


@contextmanager
def prefect_server(home: Path, port: int | None = None, timeout: float = 180.0) -> Iterator[PrefectServer]:
    """Start ``prefect server start`` on ``port`` (default: a free one); yield once ``/api/health`` answers;
    stop it after."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = home / "server.log"
    env = {**os.environ, "PREFECT_HOME": str(home / "server"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [*_prefect_cli(), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prefect server exited ({proc.returncode}): {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not answer in {timeout:.0f}s: {log_path.read_text()[-2000:]}")
            time.sleep(0.5)
        yield PrefectServer(api, home, log_path)
    finally:
        proc.terminate()  # only the server this function started (its own session)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
