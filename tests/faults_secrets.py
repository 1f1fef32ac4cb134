"""Fault scenario "secrets": a full run with GITHUB_TOKEN, OPENAI_API_KEY and FACTORY_LLM_API_KEY set to canaries.

The real CLI mines a repository from the local GitHub server of ``tests/github_server.py`` (which refuses
any request without the GitHub canary), builds it with the LLM builder against the scripted model of
``tests/llm_server.py`` (which refuses any request without the LLM canary), exports, and shows the
status. The scripted model makes the LLM round print the build and test environments into the logs
(``env`` in an install command and in a pre-test command), so a secret handed to a build or a test
container would show up there. Then every place a secret must never reach is searched for each canary
— raw, case-folded, its random core, hex, URL-encoded and base64 at every alignment: the DuckDB file
(bytes and every table's rows), every file under the factory home, the Prefect server's files, the
CLI's output, the exported JSONL, and the config, history and file system of each image of the run.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import docker
import duckdb
import requests

from factory.store import Store
from tests.faults import FaultRow, jsonl_ids, statuses
from tests.github_fixtures import START, BuiltIssue, PRSpec, build_pr_repo
from tests.github_server import FakeGitHub, GitHubServer
from tests.llm_server import ScriptedLLM

MODEL = "test-model"
SECRET_VARS = ("GITHUB_TOKEN", "OPENAI_API_KEY", "FACTORY_LLM_API_KEY")
BUILD_ENV_MARK = "FACTORY_CANARY_BUILD_ENV"
TEST_ENV_MARK = "FACTORY_CANARY_TEST_ENV"
ABSENT = "absent"

PYPROJECT = ('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
             '[project]\nname = "pkg"\nversion = "1.0.0"\nrequires-python = ">=3.9"\n\n'
             '[project.optional-dependencies]\ntest = ["pytest>=7"]\n\n'
             '[tool.setuptools.packages.find]\nwhere = ["src"]\n')
CORE = '"""Core helpers."""\n\n\ndef identity(x):\n    return x\n\n\ndef double(x):\n    return 2 * x\n'
# The tests need PKG_MODE, which no heuristic guesses: only the LLM's test manager supplies it.
TEST = ('import os\n\nimport pytest\n\nfrom pkg.core import double\n\n\n@pytest.fixture\ndef mode():\n'
        '    return os.environ["PKG_MODE"]\n\n\ndef test_double(mode):\n    assert mode == "strict"\n'
        '    assert double(4) == 8\n')


# ---- the scripted model ---------------------------------------------------------------------------------


def scripted_reply(messages: list[dict], request: dict | None = None) -> str:
    """A capable model for this repository: PKG_MODE=strict for the tests, the current recipe plus an
    environment dump for the image, and an environment dump before the tests."""
    system = messages[0]["content"]
    task = next(m["content"] for m in messages if m["role"] == "user")
    if "repository explorer" in system:
        return json.dumps({"tool": "done", "facts": "The tests read PKG_MODE; set it to strict."})
    if "You are the environment manager" in task:
        match = re.search(r"Current recipe:\n(\{.*?\n\})", task, re.S)
        recipe = json.loads(match.group(1)) if match else {"python_version": "3.11", "install_commands": []}
        recipe["install_commands"] = [*recipe.get("install_commands", []), f"env | sed 's/^/{BUILD_ENV_MARK} /'"]
        return "```json\n" + json.dumps(recipe) + "\n```"
    if "You are the test manager" in task:
        return json.dumps({"test_command": "", "pre_test_commands": [f"env | sed 's/^/{TEST_ENV_MARK} /'"],
                           "test_env": {"PKG_MODE": "strict"}})
    if "You are the test analyst" in task:
        return json.dumps({"role": "test_manager", "feedback": "export PKG_MODE=strict for the tests"})
    return "I am not sure what you want."


# ---- searching for canaries ---------------------------------------------------------------------------


def encodings(canary: str, core: str) -> dict[str, bytes]:
    """Every form of ``canary`` searched for: name -> bytes (forms whose name ends in ``/i`` are compared
    case-folded). base64 is taken at all three alignments, so a canary inside a longer encoded text
    (``Basic base64(user:token)``) is found too."""
    raw = canary.encode()
    forms = {"raw/i": raw.lower(), "core/i": core.lower().encode(), "hex/i": raw.hex().encode(),
             "url/i": quote(canary, safe="").lower().encode()}
    for offset in range(3):
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            full = encode(b"\0" * offset + raw)
            forms[f"{name}@{offset}"] = full[-(-8 * offset // 6):(8 * (offset + len(raw))) // 6]
    return forms


@dataclass
class Scan:
    """What one row searched: found places, files and bytes scanned."""

    found: list[str] = field(default_factory=list)
    files: int = 0
    size: int = 0
    rows: int = 0

    def observed(self) -> str:
        return ABSENT if not self.found else "found in " + "; ".join(self.found[:6]) + (
            f" … ({len(self.found)} places)" if len(self.found) > 6 else "")

    def size_text(self) -> str:
        return f"{self.size / 1e6:.1f} MB" if self.size >= 100_000 else f"{self.size / 1e3:.1f} kB"


class Canaries:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.forms: dict[str, dict[str, bytes]] = {}
        prefixes = {"GITHUB_TOKEN": "ghp_CANARY", "OPENAI_API_KEY": "sk-CANARYopenai", "FACTORY_LLM_API_KEY":
                    "sk-CANARYfactory"}
        for var in SECRET_VARS:
            core = secrets.token_hex(16)
            self.values[var] = prefixes[var] + core
            self.forms[var] = encodings(self.values[var], core)

    def hits(self, data: bytes) -> list[str]:
        """``VAR (form)`` for every canary form in ``data``."""
        folded = data.lower()
        out = []
        for var, forms in self.forms.items():
            found = [name for name, needle in forms.items() if needle in (folded if name.endswith("/i") else data)]
            if found:
                out.append(f"{var} ({', '.join(f.removesuffix('/i') for f in found)})")
        return out

    def scan(self, scan: Scan, where: str, data: bytes) -> None:
        scan.files += 1
        scan.size += len(data)
        hits = self.hits(data)
        if hits:
            scan.found.append(f"{where}: {', '.join(hits)}")

    def scan_files(self, scan: Scan, paths: Iterable[Path], root: Path | None = None) -> None:
        for path in paths:
            if path.is_file() and not path.is_symlink():
                try:
                    data = path.read_bytes()
                except OSError:  # e.g. a file a server is rotating away
                    continue
                self.scan(scan, str(path.relative_to(root)) if root else path.name, data)

    def needles(self) -> list[str]:
        """Text forms for grep inside an image (case-sensitive ones as they are, case-folded ones lower)."""
        return sorted({n.decode() for forms in self.forms.values() for n in forms.values()})


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def scan_db(canaries: Canaries, db: Path) -> Scan:
    """The DuckDB file and its WAL byte for byte, then every row of every table as text: DuckDB compresses
    strings on disk, so the bytes alone could miss a stored secret."""
    scan = Scan()
    canaries.scan_files(scan, sorted(db.parent.glob(db.name + "*")), db.parent)
    rows = 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                             "WHERE table_type = 'BASE TABLE'").fetchall()
        for schema, table in tables:
            content = con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
            rows += len(content)
            hits = canaries.hits(repr(content).encode())
            if hits:
                scan.found.append(f"table {table}: {', '.join(hits)}")
    finally:
        con.close()
    scan.files += len(tables)
    scan.rows = rows
    return scan


# ---- images ---------------------------------------------------------------------------------------------


def run_images(client: docker.DockerClient, slug: str, since: float) -> list[docker.models.images.Image]:
    """Images of this run: tagged with its repository, or labelled issue-factory=1 and created since it began
    (a fully cached build keeps its old creation time, hence the tag)."""
    found = {}
    for image in client.images.list(filters={"label": "issue-factory=1"}):
        created = image.attrs.get("Created", "")
        mine = any(slug in tag for tag in image.tags)
        if mine or _epoch(created) >= since:
            found[image.id] = image
    return list(found.values())


def _epoch(created: str) -> float:
    """Docker's ``Created`` (RFC 3339 with nanoseconds) as a Unix time; 0 when unreadable."""
    try:
        return datetime.fromisoformat(created[:26].rstrip("Z") + "+00:00").timestamp()
    except ValueError:
        return 0.0


def scan_image_metadata(canaries: Canaries, client: docker.DockerClient, images: list) -> Scan:
    """``docker image inspect`` (Config.Env, Labels, ContainerConfig, …) and ``docker history --no-trunc``."""
    scan = Scan()
    for image in images:
        name = image.tags[0] if image.tags else image.short_id
        try:
            inspect, history = client.api.inspect_image(image.id), client.api.history(image.id)
        except docker.errors.NotFound:  # another run's image, removed since it was listed
            continue
        canaries.scan(scan, f"{name} inspect", json.dumps(inspect).encode())
        canaries.scan(scan, f"{name} history", json.dumps(history).encode())
    return scan


def scan_image_files(canaries: Canaries, client: docker.DockerClient, images: list) -> Scan:
    """Every file of each image (as root, no network): ``grep -rlF`` for every canary form."""
    scan = Scan()
    args = [a for n in canaries.needles() for a in ("-e", n)]
    script = ["sh", "-c", 'grep -rlsaiF --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev "$@" / ; '
              'echo "FILES=$(find / -xdev -type f 2>/dev/null | wc -l)"', "scan", *args]
    for image in images:
        name = image.tags[0] if image.tags else image.short_id
        container = client.containers.create(image.id, script, user="0:0", network_disabled=True, working_dir="/")
        try:
            container.start()
            container.wait(timeout=300)
            out = container.logs(stdout=True, stderr=False).decode(errors="replace")
        finally:
            container.remove(force=True)
        lines = out.splitlines()
        counted = [line for line in lines if line.startswith("FILES=")]
        scan.files += int(counted[-1].split("=", 1)[1]) if counted and counted[-1][6:].isdigit() else 0
        leaked = [line for line in lines if line.startswith("/") and not line.startswith("/proc")]
        if leaked:
            scan.found.append(f"{name}: {', '.join(leaked[:5])}")
    return scan


def engine(wait: float = 180) -> docker.DockerClient:
    """A client for the engine, waiting up to ``wait`` s for it to answer (another fault scenario may be
    restarting it)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            client = docker.from_env(timeout=600)
            client.ping()
            return client
        except (docker.errors.DockerException, requests.RequestException):
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def scan_images(canaries: Canaries, slug: str, since: float) -> tuple[list, list, Scan, Scan, float]:
    """This run's images, then their metadata and file systems; once more if the engine went away meanwhile."""
    for attempt in range(2):
        client = engine()
        try:
            images = run_images(client, slug, since)
            mine = [i for i in images if any(slug in t for t in i.tags)]
            meta = scan_image_metadata(canaries, client, images)
            started = time.monotonic()
            files = scan_image_files(canaries, client, mine)
            return images, mine, meta, files, time.monotonic() - started
        except (docker.errors.DockerException, requests.RequestException):
            if attempt:
                raise
        finally:
            client.close()
    raise AssertionError("unreachable")


def remove_run_images(client: docker.DockerClient, slug: str) -> None:
    """Untag (and so remove) the images tagged with this run's repository: instance images before env
    images, which they are built on. Only ever this run's own tags."""
    tags = [t for image in client.images.list(filters={"label": "issue-factory=1"}) for t in image.tags if slug in t]
    for tag in sorted(tags, key=lambda t: "/env." in t):
        with contextlib.suppress(docker.errors.APIError):  # still used by a container: leave it
            client.images.remove(tag)


# ---- the scenario ---------------------------------------------------------------------------------------


def _repo(root: Path) -> object:
    built = build_pr_repo(root, [
        PRSpec(number=2, title="Packaging", body="Make the package installable with its test extra.",
               commits=[{"pyproject.toml": PYPROJECT}]),
        PRSpec(number=4, title="Add double()", body="Fixes #3", commits=[{"src/pkg/core.py": CORE,
                                                                        "tests/test_double.py": TEST}]),
    ])
    built.issues.append(BuiltIssue(number=3, title="No way to double", body="double(4) should be 8.",
                                   created_at=START))
    return built


def secret_canary_rows(workdir: Path, factory_cmd: list[str]) -> list[FaultRow]:
    started, wall = time.monotonic(), time.time() - 2
    workdir.mkdir(parents=True, exist_ok=True)
    canaries = Canaries()
    slug = f"pkg-{secrets.token_hex(4)}"  # unique per run: this run's images are the ones tagged with it
    full_name = f"canary/{slug}"
    built = _repo(workdir / "pkg.git")
    fake = FakeGitHub()
    built.register(fake, full_name)
    db, home, logs = workdir / "f.duckdb", workdir / "home", workdir / "cli"
    dataset = workdir / "dataset.all-instances.jsonl"  # --format instances: every instance, apart from a dataset
    logs.mkdir(exist_ok=True)
    outputs: list[Path] = []

    def cli(env: dict[str, str], *args: str) -> int:
        name = f"{len(outputs) // 2 + 1}-{args[0]}"
        out, err = logs / f"{name}.stdout", logs / f"{name}.stderr"
        outputs.extend((out, err))
        with open(out, "wb") as o, open(err, "wb") as e:
            return subprocess.run([*factory_cmd, *args], cwd=workdir, env=env, stdout=o, stderr=e,
                                  timeout=900).returncode

    codes: dict[str, int] = {}
    try:
        with (GitHubServer(fake, require_token=canaries.values["GITHUB_TOKEN"]) as github,
              ScriptedLLM(scripted_reply, models=(MODEL,), api_key=canaries.values["FACTORY_LLM_API_KEY"]) as llm):
            env = {k: v for k, v in os.environ.items()
                   if k not in ("FACTORY_DB", "FACTORY_HOME") and not k.startswith(("FACTORY_LLM_", "OPENAI_",
                                                                                      "GITHUB_"))}
            env.update(canaries.values, COLUMNS="250", GITHUB_API_URL=github.api_url,
                       FACTORY_LLM_BASE_URL=llm.url, FACTORY_LLM_MODEL=MODEL)
            where = ("--db", str(db), "--home", str(home))
            codes["mine"] = cli(env, "mine", "--github", full_name, *where)
            codes["build"] = cli(env, "build", "--llm", "--llm-rounds", "2", "--runs-after", "1", "--workers", "1",
                                 *where)
            codes["status"] = cli(env, "status", "--list", "--db", str(db))
            codes["export"] = cli(env, "export", "--format", "instances", "--out", str(dataset), "--db", str(db))
            github_requests = github.requests
            llm_headers = list(llm.headers)
        run_seconds = time.monotonic() - started

        rows = _run_rows(codes, db, dataset, github_requests, llm_headers, canaries, run_seconds)

        db_scan = scan_db(canaries, db) if db.exists() else Scan(found=["no DB file was written"])
        rows.append(FaultRow("secrets: canaries in DB file", ABSENT, db_scan.observed(),
                             detail=f"{db_scan.files} files/tables, {db_scan.size_text()}, "
                                    f"{db_scan.rows} rows"))

        home_scan = Scan()
        home_files = files_under(home)
        canaries.scan_files(home_scan, home_files, home)
        prefect_files: list[Path] = []
        if os.environ.get("PREFECT_HOME"):  # the Prefect server the CLI reported to: its DB and logs
            prefect_root = Path(os.environ["PREFECT_HOME"]).parent
            prefect_files = files_under(prefect_root)
            canaries.scan_files(home_scan, prefect_files, prefect_root.parent)
        runs = [p for p in home_files if p.is_relative_to(home / "runs")]
        dumps = _env_dumps(home_files)
        if not runs:
            home_scan.found.append("no run logs were written (nothing to search)")
        rows.append(FaultRow("secrets: canaries in logs (factory home, Prefect server)", ABSENT,
                             home_scan.observed(),
                             detail=f"{home_scan.files} files, {home_scan.size_text()} ({len(runs)} run logs, "
                                    f"{len(prefect_files)} Prefect files)"))
        rows.append(FaultRow(
            "secrets: build and test environments printed into the searched logs", "both printed",
            "both printed" if dumps["build"] and dumps["test"] else
            f"build: {dumps['build']} lines, test: {dumps['test']} lines",
            detail=f"`env` wrote {dumps['build']} lines in the image build, {dumps['test']} in test runs"))

        cli_scan = Scan()
        canaries.scan_files(cli_scan, outputs, logs)
        rows.append(FaultRow("secrets: canaries in CLI output", ABSENT, cli_scan.observed(),
                             detail=f"{len(codes)} commands ({', '.join(codes)}), {cli_scan.size_text()}"))

        jsonl_scan = Scan()
        if dataset.exists():
            canaries.scan_files(jsonl_scan, [dataset], workdir)
        exported = len(jsonl_ids(dataset)) if dataset.exists() else 0
        if not exported:
            jsonl_scan.found.append("no exported record (nothing to search)")
        rows.append(FaultRow("secrets: canaries in exported JSONL", ABSENT, jsonl_scan.observed(),
                             detail=f"{exported} records, {jsonl_scan.size_text()}"))

        images, mine, meta, fs, grep_seconds = scan_images(canaries, slug, wall)
        if not mine:
            meta.found.append("no image of this run (nothing to search)")
        rows.append(FaultRow("secrets: canaries in image history/config", ABSENT, meta.observed(),
                             detail=f"{len(images)} images ({len(mine)} tagged {slug}), {meta.size_text()} of "
                                    "inspect + history JSON"))
        rows.append(FaultRow("secrets: canaries in image file systems", ABSENT, fs.observed(),
                             detail=f"{len(mine)} images, {fs.files} files, grep {grep_seconds:.0f} s"))
        rows[1].detail += f"; whole scenario {time.monotonic() - started:.0f} s"
        return rows
    finally:
        with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
            client = engine()
            remove_run_images(client, slug)
            client.close()


def _env_dumps(files: list[Path]) -> dict[str, int]:
    """Lines of ``env`` output the scripted model's commands left in the logs (build and test)."""
    counts = {"build": 0, "test": 0}
    for path in files:
        if path.suffix in (".tar", ".bundle"):
            continue
        text = path.read_bytes()
        counts["build"] += text.count(BUILD_ENV_MARK.encode() + b" ")
        counts["test"] += text.count(TEST_ENV_MARK.encode() + b" ")
    return counts


def _run_rows(codes: dict[str, int], db: Path, dataset: Path, github_requests: list, llm_headers: list[dict],
              canaries: Canaries, seconds: float) -> list[FaultRow]:
    """Proof the secrets were used, and that the run was whole: finding them nowhere then means something."""
    token_ok = [r for r in github_requests if r.status not in (0, 401)]
    refused = [r for r in github_requests if r.status == 401]
    bearer = f"Bearer {canaries.values['FACTORY_LLM_API_KEY']}"
    keyed = [h for h in llm_headers if h.get("authorization") == bearer]
    github = "sent to GitHub" if token_ok and not refused else f"GitHub: {len(token_ok)} ok, {len(refused)} refused"
    model = "LLM" if keyed and len(keyed) == len(llm_headers) else \
        f"LLM: {len(keyed)} of {len(llm_headers)} requests with the key"
    in_use = FaultRow("secrets: canaries were in use", "sent to GitHub and LLM", f"{github} and {model}",
                      detail=f"{len(github_requests)} GitHub requests (all needed the token), "
                             f"{len(llm_headers)} LLM requests (all needed the key)")

    labels = statuses(db) if db.exists() else {}
    builders: dict[str, str] = {}
    if db.exists():
        with Store(db, read_only=True, lock_wait=60) as store:
            builders = {i.instance_id: i.builder for i in store.instances()}
    exported = len(jsonl_ids(dataset)) if dataset.exists() else 0
    failed = {k: v for k, v in codes.items() if v != 0}
    outcome = ", ".join(f"{label} by {builders.get(iid) or '?'}" for iid, label in sorted(labels.items()))
    observed = f"{outcome or 'no instance'}; {exported} exported"
    if failed:
        observed += f"; exit codes {failed}"
    whole = FaultRow("secrets: the run the scans cover", f"valid by llm:{MODEL}; 1 exported", observed,
                     detail=f"mine, build, status, export in {seconds:.0f} s")
    return [in_use, whole]
