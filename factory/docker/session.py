"""A long-lived sandboxed container an agent works in: one shell command at a time, files in and out, and the
work tree's change as a patch.

Why not :func:`~factory.docker.runtime.run_sandboxed`: an agent's commands depend on what the earlier ones
did (an edit, then a test run), so they must share one container. The container gets the same sandbox as a
test run — network off, memory / pids / CPU limits, dropped capabilities — and each command a timeout that
kills it. Commands run as ``user`` (the instance images' test user owns ``/testbed`` but not ``.git``); the
patch is read by root through a throw-away index, so nothing the agent does can change how it is read.
Output is written to a file inside the container and read back bounded (head and tail), so a command that
prints gigabytes, or leaves a background process holding its output open, cannot stall or flood us.
"""

from __future__ import annotations

import contextlib
import io
import shlex
import tarfile
import time
from dataclasses import dataclass

import docker
import requests
from docker.errors import APIError, DockerException, NotFound

from factory.docker.runtime import OWNER_LABEL, EngineError, Sandbox, labels, owner_id

OUTPUT_CAP = 20_000
"""Characters of a command's output shown back (first and last half; the middle is cut with a note)."""
_SCRATCH = "/tmp/factory-agent"
#: New files never part of an agent's patch, whatever the repository ignores: compiled Python and caches.
JUNK = r"(^|/)(__pycache__|\.pytest_cache|\.mypy_cache|[^/]*\.egg-info)(/|$)|\.py[cod]$"
_PATCH_SCRIPT = r"""
set -e
cd {workdir}
idx=$(mktemp)
trap 'rm -f "$idx"' EXIT
export GIT_INDEX_FILE="$idx"
git read-tree HEAD
if [ -r /etc/issue-factory/untracked ]; then known=/etc/issue-factory/untracked; else known=/dev/null; fi
git ls-files -z --others --exclude-standard | sort -z | comm -z -23 - "$known" \
  | {{ grep -zvE '{junk}' || true; }} | xargs -0r git add -f --
git add -u
git -c core.quotepath=off diff --cached --binary --no-color --no-renames HEAD
"""


@dataclass
class CommandResult:
    """What one command did."""

    exit_code: int | None
    """Its exit status (None: it was killed at its timeout)."""
    output: str
    """stdout and stderr together, bounded by :data:`OUTPUT_CAP`."""
    seconds: float
    timed_out: bool


class ContainerSession:
    """``with ContainerSession(client, image, sandbox) as box: box.execute("pytest -x")``."""

    def __init__(self, client: docker.DockerClient, image: str, sandbox: Sandbox, *, user: str = "",
                 workdir: str = "/testbed", extra_labels: dict[str, str] | None = None):
        self.client, self.image, self.sandbox = client, image, sandbox
        self.user, self.workdir = user, workdir
        self._labels = {**labels(), OWNER_LABEL: owner_id(), **(extra_labels or {})}
        self._container = None

    def __enter__(self) -> ContainerSession:
        try:
            self._container = self.client.containers.create(
                self.image, ["sleep", "infinity"], labels=self._labels, network_mode="none",
                mem_limit=self.sandbox.mem_limit, memswap_limit=self.sandbox.mem_limit,
                pids_limit=self.sandbox.pids_limit, nano_cpus=int(self.sandbox.cpus * 1e9),
                security_opt=["no-new-privileges"],
                cap_drop=["NET_RAW", "SYS_ADMIN", "SYS_PTRACE", "MKNOD", "AUDIT_WRITE", "SETFCAP"],
                privileged=False, detach=True, user="0", working_dir=self.workdir,
            )
            self._container.start()
            self._root(f"mkdir -p {_SCRATCH} && chmod 1777 {_SCRATCH}")
        except (APIError, requests.RequestException, DockerException) as exc:
            self.close()
            raise EngineError(f"cannot start a session container of {self.image}: {exc}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._container is not None:
            with contextlib.suppress(APIError, requests.RequestException, DockerException):
                self._container.remove(force=True)
            self._container = None

    # ---- commands ---------------------------------------------------------------------------------

    def _exec(self, argv: list[str], user: str) -> tuple[int | None, bytes]:
        if self._container is None:
            raise EngineError("the session container is not running")
        try:
            result = self._container.exec_run(argv, user=user, workdir=self.workdir, demux=False)
        except (APIError, requests.RequestException, DockerException) as exc:
            raise EngineError(f"the engine failed while running a command in {self.image}: {exc}") from exc
        return result.exit_code, result.output or b""

    def _root(self, script: str) -> bytes:
        code, out = self._exec(["bash", "-c", script], "0")
        if code != 0:
            raise EngineError(f"a session's own step failed (exit {code}): {out[-500:].decode('utf-8', 'replace')}")
        return out

    def execute(self, command: str, timeout: int = 120) -> CommandResult:
        """Run ``command`` with bash in the work tree as the session's user, killed after ``timeout`` s."""
        started = time.monotonic()
        out_file = f"{_SCRATCH}/out.{time.monotonic_ns()}"
        wrapped = (f"timeout -k 5 {int(timeout)} bash -c {shlex.quote(command)} >{out_file} 2>&1 </dev/null; "
                   f"echo $?")
        code, said = self._exec(["bash", "-c", wrapped], self.user or "0")
        status = int(said.decode().strip().splitlines()[-1]) if code == 0 and said.strip() else None
        output = self._bounded(out_file)
        seconds = time.monotonic() - started
        timed_out = status in (124, 137) and seconds >= timeout  # `timeout`'s own codes, at the deadline
        return CommandResult(None if timed_out else status, output, seconds, timed_out)

    def _bounded(self, path: str) -> str:
        half = OUTPUT_CAP // 2
        script = (f"s=$(stat -c %s {path}); if [ \"$s\" -le {OUTPUT_CAP} ]; then cat {path}; else "
                  f"head -c {half} {path}; printf '\\n[... %s bytes cut ...]\\n' $((s - {OUTPUT_CAP})); "
                  f"tail -c {half} {path}; fi; rm -f {path}")
        return self._root(script).decode("utf-8", "replace")

    # ---- files ------------------------------------------------------------------------------------

    def write_file(self, path: str, content: str) -> CommandResult:
        """Write ``content`` to ``path`` (relative: under the work tree) as the session's user, folders made
        as needed; a place the user may not write is a failed command, not an engine error."""
        full = path if path.startswith("/") else f"{self.workdir}/{path}"
        staged = f"{_SCRATCH}/in.{time.monotonic_ns()}"
        data = content.encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(staged.rsplit("/", 1)[1])
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        try:
            self._container.put_archive(_SCRATCH, buffer.getvalue())
        except (APIError, requests.RequestException, DockerException) as exc:
            raise EngineError(f"cannot copy a file into the session container: {exc}") from exc
        target = shlex.quote(full)
        result = self.execute(f"mkdir -p \"$(dirname {target})\" && cat {staged} > {target}", timeout=30)
        self._root(f"rm -f {staged}")
        return result

    def read_file(self, path: str) -> str | None:
        """The text of ``path`` (relative: under the work tree), or None when it does not exist."""
        full = path if path.startswith("/") else f"{self.workdir}/{path}"
        try:
            stream, _ = self._container.get_archive(full)
        except NotFound:
            return None
        except (APIError, requests.RequestException, DockerException) as exc:
            raise EngineError(f"cannot read {full} in the session container: {exc}") from exc
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.next()
            handle = tar.extractfile(member) if member is not None and member.isfile() else None
            return handle.read().decode("utf-8", "replace") if handle else None

    # ---- the work tree as a patch -----------------------------------------------------------------

    def patch(self) -> str:
        """The work tree's change against ``HEAD`` as a git patch: tracked edits, and new files that are
        neither ignored, nor left by the image's build (its untracked manifest), nor compiled caches (:data:`JUNK`)."""
        script = _PATCH_SCRIPT.format(workdir=shlex.quote(self.workdir), junk=JUNK)
        return self._root(script).decode("utf-8", "replace")

    def apply(self, patch: str) -> CommandResult:
        """Apply ``patch`` to the work tree as the session's user (nothing written when it does not apply)."""
        self.write_file(f"{_SCRATCH}/apply.patch", patch)
        return self.execute(f"git apply --whitespace=nowarn {_SCRATCH}/apply.patch", timeout=60)

    def revert(self, patch: str) -> CommandResult:
        """Undo ``patch`` (as :meth:`patch` returned it) in the work tree."""
        self.write_file(f"{_SCRATCH}/revert.patch", patch)
        return self.execute(f"git apply -R --whitespace=nowarn {_SCRATCH}/revert.patch", timeout=60)
