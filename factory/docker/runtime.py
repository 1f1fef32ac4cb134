"""The Docker engine, reached with the docker SDK (``DOCKER_HOST`` respected, so a remote engine works).

Two jobs: build images from a context directory, and run a command in a sandboxed, labelled container
(network off, memory/pids/CPU limits, a wall-clock timeout that kills it). Inputs are copied into the
container with ``put_archive`` rather than bind-mounted, which keeps host paths out of the sandbox and
works on remote engines too. Every object carries ``issue-factory=1`` so cleanup touches only ours.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import posixpath
import re
import socket
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from factory.core.errors import UserError

LABEL = "issue-factory"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
OWNER_LABEL = "issue-factory.owner"
"""``<host>:<pid>`` of the process that created a container, so a rerun can reap leaked ones."""


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def labels(**extra: str) -> dict[str, str]:
    return {LABEL: "1", **{f"{LABEL}.{k}": v for k, v in extra.items()}}


class BuildError(Exception):
    """An image build failed; ``log`` holds the full build output."""

    def __init__(self, message: str, log: str):
        super().__init__(message)
        self.log = log


class EngineError(Exception):
    """The engine failed mid-operation (daemon restarted, API error): an infra error, retryable."""


@dataclass
class RunResult:
    exit_code: int | None
    log: str
    files: dict[str, bytes]
    """Files copied out of the container after it stopped (path -> content; absent ones omitted)."""
    seconds: float
    timed_out: bool
    oom_killed: bool


@dataclass
class Sandbox:
    mem_limit: str = "2g"
    pids_limit: int = 512
    cpus: float = 1.0
    timeout: int = 600


def connect() -> docker.DockerClient:
    """A client for the engine at ``DOCKER_HOST`` (or the local socket), or a clear error."""
    try:
        client = docker.from_env(timeout=3600)
        client.ping()
        return client
    except (DockerException, requests.RequestException) as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise UserError(
            f"no Docker engine answers at {where} ({type(exc).__name__})",
            "start one with `sudo scripts/ensure-docker.sh` (or `make docker`), or set DOCKER_HOST",
        ) from exc


def _answers(client: docker.DockerClient) -> bool:
    try:
        return bool(client.ping())
    except (DockerException, requests.RequestException):
        return False


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except ImageNotFound:
        return False


def build_image(
    client: docker.DockerClient,
    context: Path,
    tag: str,
    extra_labels: dict[str, str] | None = None,
    log_path: Path | None = None,
    timeout: int = 1800,
) -> str:
    """Build ``context/Dockerfile`` as ``tag``; return the image id or raise :class:`BuildError`."""
    lines: list[str] = []
    image_id = ""
    error = ""
    try:
        stream = client.api.build(
            path=str(context),
            tag=tag,
            labels={**labels(), **(extra_labels or {})},
            rm=True,
            forcerm=True,
            decode=True,
            timeout=timeout,
        )
        for chunk in stream:
            if "stream" in chunk:
                lines.append(chunk["stream"])
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
            if "error" in chunk:
                error = chunk["error"]
                lines.append(chunk["error"] + "\n")
    except (APIError, requests.RequestException) as exc:
        raise EngineError(f"the engine failed while building {tag}: {exc}") from exc
    log = _ANSI.sub("", "".join(lines))
    if log_path:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(log)
    if error:
        if not _answers(client):  # the daemon went away mid-build: not the Dockerfile's fault
            raise EngineError(f"the engine stopped while building {tag}: {error.strip()}")
        raise BuildError(error.strip(), log)
    if not image_id:
        image_id = client.images.get(tag).id
    return image_id


def _tar(files: dict[str, bytes | str], mode: int = 0o644) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _files_of(chunks: Iterable[bytes], path: str, cap: int) -> dict[str, bytes]:
    """The regular files of a ``get_archive`` stream of ``path`` (a file, or a folder and all it holds),
    by absolute path; nothing when the stream is over ``cap`` bytes (it is read no further)."""
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        if len(buf) > cap:
            return {}
    parent = posixpath.dirname(path.rstrip("/")) or "/"
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(bytes(buf))) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None:
                found[posixpath.join(parent, member.name)] = handle.read()
    return found


def run_sandboxed(
    client: docker.DockerClient,
    image: str,
    command: list[str],
    inputs: dict[str, bytes | str],
    sandbox: Sandbox,
    collect: list[str] | None = None,
    extra_labels: dict[str, str] | None = None,
    on_start: Callable[[str], None] | None = None,
    user: str | None = None,
) -> RunResult:
    """Run ``command`` in a fresh container of ``image`` and remove it afterwards, whatever happens.

    ``inputs`` are written under ``/factory`` before start; ``collect`` names files or folders copied out
    after the container stops (one API call each; ``files`` maps every regular file by its absolute path).
    Network is off and the timeout kills the container (not just our wait). ``user`` overrides the image's
    user (the eval contract starts as root and drops privileges itself). The log kept is bounded
    (:data:`LOG_CAP`: head and tail), whatever the container printed.
    """
    started = time.monotonic()
    container = None
    try:
        container = client.containers.create(
            image,
            command,
            labels={**labels(), OWNER_LABEL: owner_id(), **(extra_labels or {})},
            network_mode="none",
            mem_limit=sandbox.mem_limit,
            memswap_limit=sandbox.mem_limit,
            pids_limit=sandbox.pids_limit,
            nano_cpus=int(sandbox.cpus * 1e9),
            security_opt=["no-new-privileges"],
            cap_drop=["NET_RAW", "SYS_ADMIN", "SYS_PTRACE", "MKNOD", "AUDIT_WRITE", "SETFCAP"],
            privileged=False,
            detach=True,
            **({"user": user} if user is not None else {}),
        )
        if on_start:
            on_start(container.id)
        container.put_archive("/", _tar({f"factory/{k}": v for k, v in inputs.items()}))
        container.start()
        waiting = time.monotonic()
        timed_out = False
        try:
            result = container.wait(timeout=sandbox.timeout)
            exit_code = result.get("StatusCode")
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as exc:
            # Over a unix socket a read timeout surfaces as ConnectionError too: only the clock tells a
            # timeout from an engine that went away (daemon restart), which is an infra error to retry.
            if time.monotonic() - waiting < sandbox.timeout - 1:
                raise EngineError(f"the engine stopped answering while running {image}: {exc}") from exc
            timed_out = True
            exit_code = None
            with contextlib.suppress(APIError):
                container.kill()
        state = client.api.inspect_container(container.id)["State"]
        log = bounded_log(container)
        files: dict[str, bytes] = {}
        for path in collect or []:
            try:
                stream, _ = container.get_archive(path)
                files.update(_files_of(stream, path, COLLECT_CAP))
            except NotFound:
                pass
        return RunResult(
            exit_code=exit_code,
            log=log,
            files=files,
            seconds=time.monotonic() - started,
            timed_out=timed_out,
            oom_killed=bool(state.get("OOMKilled")),
        )
    except (APIError, requests.RequestException, DockerException) as exc:
        raise EngineError(f"the engine failed while running {image}: {exc}") from exc
    finally:
        if container is not None:
            with contextlib.suppress(APIError, requests.RequestException, DockerException):
                container.remove(force=True)


COLLECT_CAP = 80 << 20
"""What is copied out of a container per collected path is at most this (the eval contract's results folder
holds at most 2 x 32 MiB of results and 2 MiB of output); anything larger is not ours to read."""
LOG_CAP = 4 << 20
"""Bytes of a container's log kept in memory (first and last half; the middle is cut with a note). The eval
script caps test output itself (``eval_contract.OUTPUT_HEAD/TAIL``); this bounds anything else."""


def bounded_log(container, cap: int = LOG_CAP) -> str:
    """The container's log, streamed: at most ``cap`` bytes are ever held (head and tail)."""
    head = bytearray()
    tail: collections.deque[bytes] = collections.deque()
    tail_bytes = total = 0
    half = cap // 2
    for chunk in container.logs(stdout=True, stderr=True, stream=True, follow=False):
        total += len(chunk)
        if len(head) < half:
            take = chunk[: half - len(head)]
            head += take
            chunk = chunk[len(take):]
        if chunk:
            tail.append(chunk)
            tail_bytes += len(chunk)
            while tail and tail_bytes - len(tail[0]) >= half:
                tail_bytes -= len(tail.popleft())
    rest = b"".join(tail)
    if len(rest) > half:
        rest = rest[-half:]
    cut = total - len(head) - len(rest)
    note = f"\n[factory: {cut} bytes of container log cut here]\n".encode() if cut > 0 else b""
    return (bytes(head) + note + rest).decode("utf-8", "replace")


def _labelled_containers(client: docker.DockerClient) -> list[dict]:
    """Our containers in one API call (``list`` + per-container inspect would race with other processes
    removing theirs)."""
    return client.api.containers(all=True, filters={"label": f"{LABEL}=1"})


def reap_leaked_containers(client: docker.DockerClient) -> list[str]:
    """Remove our containers whose creating process (on this host) is gone; return their names."""
    host = socket.gethostname()
    removed = []
    for container in _labelled_containers(client):
        owner = (container.get("Labels") or {}).get(OWNER_LABEL, "")
        owner_host, _, pid = owner.partition(":")
        if owner_host != host or not pid.isdigit() or process_alive(int(pid)):
            continue
        with contextlib.suppress(APIError):  # already gone, or being removed by someone else
            client.api.remove_container(container["Id"], force=True)
            removed.append((container.get("Names") or [container["Id"][:12]])[0].lstrip("/"))
    return removed


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (owner check for leaked containers)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def our_containers(client: docker.DockerClient) -> list[dict]:
    return [
        {"name": (c.get("Names") or [c["Id"][:12]])[0].lstrip("/"), "status": c.get("State", ""),
         "owner": (c.get("Labels") or {}).get(OWNER_LABEL, "")}
        for c in _labelled_containers(client)
    ]


def image_labels(client: docker.DockerClient, tag: str) -> dict[str, str]:
    try:
        return client.images.get(tag).labels or {}
    except ImageNotFound:
        return {}
