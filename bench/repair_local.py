"""The repair cycle driven by a real (small, local) model, end to end: time split, train memory, evaluate
under every memory configuration, the ablation table, and what each step cost.

What it proves: every step of the cycle works on a real model's output, not a script's. It calls the
product's own functions (``factory/pipeline/repair_cycle.py``: :func:`split`, :func:`train` in mode
``both`` — each train attempt graded by our harness at once, remembered as a case, one insight operation
asked for — then :func:`evaluate_configs` with the memory frozen) and its own report (``render(rows(...))``:
Wilson 95 % interval, exact McNemar p vs ``none``). Costs come from the LLM ledger under each attempt's
``ledger_key`` (``<instance>@<run>:<configuration>``; insight calls ``<instance>@<run>:insight``) and
from the harness's results. Each attempt is printed as soon as it is graded (``on_done``): every stage's
turns (action and command), answer and ending, what memory recalled, candidates, patch, harness verdict and
the insight step's note; then the memory training left, the ablation, the costs and the totals (how much of
the loop the model's output reached: actions, edits applied, patches graded by running the tests).

What it does not prove: that memory helps. The demo dataset has three issues (two train, one test); with a
0.5B model resolving anything is luck and every interval spans most of [0, 1]. With K = 4 and two train
cases, ``random`` recalls the same cases as ``episodic``. Not part of CI: it needs Docker, the base image
and a model server — or ``--gguf`` and an interpreter with ``llama_cpp.server``: the bench then starts its
own server on a free port and always stops it, on error too.

The dataset is the factory's demo (the built-in example mined, built, validated and exported into the work
directory), or an export JSONL given with ``--dataset``. Run: ``.venv/bin/python bench/repair_local.py``
(the server at ``--base-url``) or ``.venv/bin/python bench/repair_local.py --gguf model.gguf``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.llm import Budget, LLMClient, LLMSettings  # noqa: E402
from agents.repair.config import RepairConfig  # noqa: E402
from agents.repair.records import Attempt  # noqa: E402
from factory.core.settings import Settings  # noqa: E402
from factory.harness.dataset import load_dataset  # noqa: E402
from factory.pipeline.repair_cycle import CONFIGS, CycleContext, Graded, evaluate_configs, save_results, split, train  # noqa: E402
from factory.pipeline.repair_report import render, rows  # noqa: E402
from factory.store import Store  # noqa: E402
from memory_pool.experience import ExperienceMemory  # noqa: E402

BASE_URL = "http://127.0.0.1:8765/v1"
LLAMA_PYTHON = "/tmp/llm14/venv/bin/python"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)



def default_model(base_url: str) -> str:
    """The first model id the server lists at ``/models``."""
    with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=30) as answer:
        models = [m["id"] for m in json.load(answer).get("data", [])]
    if not models:
        raise SystemExit(f"{base_url}/models lists no model; pass --model")
    return models[0]


@contextmanager
def model_server(args: argparse.Namespace, workdir: Path) -> Iterator[tuple[str, str]]:
    """``(base url, how it is served)``: ``--base-url``, or with ``--gguf`` a llama.cpp server of our own on a
    free port, a child in its own process group, stopped when the block ends, however it ends."""
    if args.gguf is None:
        yield args.base_url, "already running"
        return
    gguf = args.gguf.resolve()
    if not gguf.is_file():
        raise SystemExit(f"--gguf {gguf}: no such file")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log, url, began = workdir / "llama-server.log", f"http://127.0.0.1:{port}/v1", time.monotonic()
    command = [args.llama_python, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", str(args.n_ctx)]
    say(f"starting {' '.join(command)} (log {log})")
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the model server exited with {process.returncode} before serving:\n"
                                 + log.read_text(errors="replace")[-2000:])
            try:
                with urllib.request.urlopen(url + "/models", timeout=5):
                    break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() - began > args.server_wait:
                raise SystemExit(f"the model server did not answer {url}/models in {args.server_wait:.0f}s")
            time.sleep(1)
        ready = time.monotonic() - began
        say(f"model server pid {process.pid} serving at {url} after {ready:.0f}s")
        yield url, f"started by this bench, pid {process.pid}, ready in {ready:.0f}s, log {log}"
    finally:
        for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            if process.poll() is not None:
                break
            try:
                os.killpg(process.pid, sig)  # the group start_new_session gave our child: only what we started
                process.wait(wait)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
        say(f"model server pid {process.pid} stopped (exit {process.poll()})")



def demo_dataset(workdir: Path, client) -> tuple[Path, Settings]:
    """The demo pipeline (mine the built-in example, build + validate, export) into ``workdir``; every commit
    must reach its expected outcome, as ``factory demo`` checks."""
    from factory.docker import base_images
    from factory.mining.git_source import mine_git
    from factory.pipeline.build import build_pending
    from factory.pipeline.demo import ensure_example, summary
    from factory.pipeline.export import export_jsonl

    settings = Settings(db_path=workdir / "demo.duckdb", home=workdir / "home")
    repo = ensure_example(workdir / "tinyledger")
    base_images.ensure(client, settings.images.default_python, settings, say=say)
    dataset = workdir / "dataset.jsonl"
    with Store(settings.db_path) as store:
        say(f"mined {len(mine_git(str(repo), store, settings).added)} candidate(s); building and validating")
        build_pending(store, settings, workers=1)
        n = export_jsonl(store, dataset)
        wrong = [f"{r.subject}: expected {r.expected}, got {r.observed}" for r in summary(store, repo) if not r.ok]
    if wrong:
        raise SystemExit("the demo pipeline did not reach its expected outcomes:\n  " + "\n  ".join(wrong))
    say(f"demo dataset: {dataset} ({n} valid instances)")
    return dataset, settings


def cutoff_of(text: str | None, records: list[dict]) -> datetime:
    """``--before`` as an aware datetime; by default the latest issue's date (that issue is the test split)."""
    text = text or max((str(r.get("created_at", "")) for r in records), default="")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(f"--before {text!r} is not an ISO date") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def patch_size(patch: str) -> str:
    if not patch.strip():
        return "empty"
    lines = patch.splitlines()
    added = sum(line.startswith("+") and not line.startswith("+++") for line in lines)
    removed = sum(line.startswith("-") and not line.startswith("---") for line in lines)
    return f"{sum(line.startswith('diff --git ') for line in lines)}f +{added}/-{removed} {len(patch.encode())}B"


def short(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 3] + "..."


class Run:
    """What the bench keeps while the product's functions run, filled in by ``CycleContext.on_done`` (which
    also prints each attempt as soon as it is graded): the harness's result row per (configuration,
    instance), the harness's container seconds and the wall time per configuration."""

    def __init__(self, ctx: CycleContext, store: Store, train_id: str, eval_id: str):
        self.ctx, self.store, self.train_id, self.eval_id = ctx, store, train_id, eval_id
        self.verdicts: dict[tuple[str, str], dict] = {}
        self.harness: dict[str, float] = {}
        self.phase: dict[str, float] = {}
        self.mark, self.trained = time.monotonic(), 0

    def done(self, name: str, graded: Graded) -> None:
        """After each train attempt (graded, remembered); after each configuration's harness run, per attempt."""
        if graded.attempt.ledger_key.endswith(f"@{self.train_id}:train"):  # train passes its mode as the name
            self.trained += 1
            name, run_id = "train", f"{self.train_id}-{self.trained}"  # train grades each attempt in a run of its own
        else:
            run_id = f"{self.eval_id}-{name}"
        if name == "train" or name not in self.phase:  # the first of a configuration's attempts: its run is done
            now = time.monotonic()
            self.phase[name] = self.phase.get(name, 0.0) + now - self.mark
            self.mark = now
            found = self.ctx.harness_store.eval_results(run_id)
            self.harness[name] = self.harness.get(name, 0.0) + sum(float(r["seconds"] or 0) for r in found)
            self.verdicts.update({(name, r["instance_id"]): r for r in found})
        self.show(name, graded)

    def applied(self, name: str, attempt: Attempt) -> bool:
        report = self.verdicts.get((name, attempt.instance_id), {}).get("report") or {}
        return bool(report.get(attempt.instance_id, {}).get("patch_successfully_applied"))

    def show(self, name: str, graded: Graded) -> None:
        a = graded.attempt
        spent, reason = self.store.llm_totals(a.ledger_key), self.verdicts.get((name, a.instance_id), {}).get("reason")
        turns = [t for log in a.stages for t in log.turns]
        edits = [t for t in turns if t.action == "edit"]
        edited = f"{sum(t.observation.startswith('Edited ') for t in edits)}/{len(edits)}"
        print(f"{f'{a.instance_id} [{name}]':<34}{len(turns):>6}{sum(t.action == 'malformed' for t in turns):>5}"
              f"{sum(t.action == 'repeat' for t in turns):>4}{edited:>6}{len(a.candidates):>5}"
              f"{patch_size(a.submitted):>20}  {graded.status:<11}{spent['calls']:>6}{spent['tokens_in']:>8}"
              f"{spent['tokens_out']:>8}{spent['seconds']:>7.0f}")
        print(f"  ledger key {a.ledger_key}; recalled per stage: "
              + " ".join(f"{log.stage}={log.recalled}" for log in a.stages))
        for log in a.stages:
            steps = " > ".join(f"{t.action}({short(t.detail, 50)})" if t.detail else t.action for t in log.turns)
            print(f"  {log.stage} [{log.ended or '?'}]: {steps or '-'}"
                  + (f" => {short(log.answer)!r}" if log.answer else "") + (f"; {log.error}" if log.error else ""))
        print(f"  localized: {', '.join(a.files) or '-'}; reproduction: "
              f"{f'exit {a.reproduction_exit}' if a.reproduction else 'none'}; selection: {a.reason or '-'}")
        for n, c in enumerate(a.candidates, start=1):
            print(f"  candidate {n}: {patch_size(c.patch)}, score {c.score} (reproduction exit "
                  f"{c.reproduction_exit}, nearby tests exit {c.tests_exit})")
        if a.error or spent["errors"]:
            print(f"  stopped: {a.error or '-'}; LLM errors: {spent['errors']}")
        print(f"  harness: {graded.status}{'; patch applied' if self.applied(name, a) else ''}"
              f"{'; ' + reason if reason else ''}")
        if graded.note:
            print(f"  insight step: {graded.note}")
        sys.stdout.flush()


def header() -> None:
    print(f"{'attempt':<34}{'turns':>6}{'malf':>5}{'rep':>4}{'edits':>6}{'cand':>5}{'patch':>20}  {'harness':<11}"
          f"{'calls':>6}{'tok in':>8}{'tok out':>8}{'LLM s':>7}")


def memory_report(memory: ExperienceMemory, store: Store, trained: list[Graded]) -> None:
    """What training left: the cases, the insights, the operation log and the model's insight replies."""
    print("\nmemory after training (written from the graded train outcomes)")
    for case in memory.cases(split="train"):
        print(f"  case {case.case_id}: {case.instance_id} (issue {case.issue_created_at:%Y-%m-%d %H:%M}) "
              f"outcome {case.outcome} ({'positive' if case.positive else 'negative'}); files "
              f"{', '.join(case.files) or '-'}; patch {patch_size(case.submitted_patch)}; "
              f"reproduction {'yes' if case.reproduction else 'no'}; notes {', '.join(case.stage_notes) or '-'}")
    insights = memory.insights(active_only=False)
    for insight in insights:
        print(f"  insight {insight.insight_id} [{insight.stage}, {insight.status}, support {insight.support}, "
              f"contradiction {insight.contradiction}]: {insight.text}")
    if not insights:
        print("  no insight")
    for op in memory.log():
        print(f"  op {op.op} {op.stage} {','.join(op.insight_ids)}: {op.reason}")
    for g in trained:
        for row in store.llm_calls(insight_key(g)):
            reply = json.loads(row["response"] or "{}").get("text", "") if row["status"] == "ok" else row["error"]
            print(f"  insight reply for {g.attempt.instance_id} ({row['status']}): {short(reply, 300)}")


def insight_key(graded: Graded) -> str:
    """``<instance>@<run>:insight``: the train attempt's ledger key with the insight step's name."""
    return graded.attempt.ledger_key.rsplit(":", 1)[0] + ":insight"


def costs(run: Run, store: Store, everything: dict[str, list[Graded]]) -> None:
    """Per configuration: the ledger's calls, tokens and model seconds per instance (``rows``, by each
    attempt's ledger key; the train insight calls apart), the harness's container seconds and the wall time."""
    print("\ncosts (per instance, from the LLM ledger; harness s: container seconds of its harness runs; phase s: "
          "its wall time, attempts + harness + insight)")
    head = (f"{'config':<14}{'n':>3}{'calls':>7}{'tok in':>9}{'tok out':>9}{'model s':>9}{'tok/s':>7}"
            f"{'harness s':>11}{'phase s':>9}")
    print(head + "\n" + "-" * len(head))
    insight = [Graded(g.attempt.model_copy(update={"ledger_key": insight_key(g)}), g.status)
               for g in everything["train"]]
    for r in rows({**everything, "train insight": insight}, store):
        rate = f"{r.tokens_out / r.seconds:.1f}" if r.seconds else "-"
        print(f"{r.name:<14}{r.n:>3}{r.calls:>7.1f}{r.tokens_in:>9.0f}{r.tokens_out:>9.0f}{r.seconds:>9.1f}"
              f"{rate:>7}" + (f"{run.harness[r.name]:>11.0f}{run.phase[r.name]:>9.0f}" if r.name in run.phase
                              else "  (timed in train)"))


def totals(run: Run, everything: dict[str, list[Graded]]) -> None:
    """Over every attempt (train and evaluation): what the model did and how much of the loop it reached."""
    named = [(name, g) for name, gs in everything.items() for g in gs]
    graded = [g for _, g in named]
    logs = [log for g in graded for log in g.attempt.stages]
    turns = [t for log in logs for t in log.turns]
    kinds = {k: sum(t.action == k for t in turns) for k in ("bash", "write", "edit", "malformed", "repeat")}
    edits = [t for t in turns if t.action == "edit"]
    nonempty = [g for g in graded if g.attempt.submitted.strip()]
    applied = sum(run.applied(name, g.attempt) for name, g in named if g.attempt.submitted.strip())
    early = sum(log.ended == "done" and not any(t.action in ("bash", "write", "edit") for t in log.turns)
                for log in logs)

    def ratio(part: int, whole: int) -> str:
        return f"{part}/{whole} = {part / whole:.2f}" if whole else f"{part}/{whole}"

    print(f"\ntotals over all {len(graded)} attempt(s) (train + evaluation)")
    print(f"  resolved                        {ratio(sum(g.status == 'resolved' for g in graded), len(graded))}")
    print(f"  empty patch                     {ratio(len(graded) - len(nonempty), len(graded))}")
    print(f"  applied by the harness          {ratio(applied, len(nonempty))} of the non-empty patches; "
          f"{sum(g.status in ('resolved', 'unresolved') for g in graded)} graded by running the tests")
    print(f"  model turns                     {len(turns)}: {kinds['bash']} bash, {kinds['write']} write, "
          f"{kinds['edit']} edit; {kinds['malformed']} malformed; {kinds['repeat']} repeated")
    print(f"  edits applied / sent            {sum(t.observation.startswith('Edited ') for t in edits)}/{len(edits)}")
    print("  stages ended by                 " + ", ".join(
        f"{e} {sum(log.ended == e for log in logs)}" for e in sorted({log.ended for log in logs})))
    print(f"  'done' ending a stage unacted   {early} (the agent refuses it: should be 0)")
    print(f"  attempts stopped early          {sum(bool(g.attempt.error) for g in graded)}")



def options() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", default=BASE_URL, help="OpenAI-compatible endpoint (default: %(default)s)")
    p.add_argument("--model", help="model id (default: the first one the endpoint lists at /models)")
    p.add_argument("--gguf", type=Path, help="serve this GGUF with a llama.cpp server of our own (not --base-url)")
    p.add_argument("--llama-python", default=LLAMA_PYTHON, help="with --gguf: a python with llama_cpp.server")
    p.add_argument("--n-ctx", type=int, default=8192, help="with --gguf: context size (default: %(default)s)")
    p.add_argument("--server-wait", type=float, default=300.0, help="with --gguf: seconds to wait for /v1/models")
    p.add_argument("--dataset", type=Path, help="an export JSONL (default: build the demo dataset in the work dir)")
    p.add_argument("--before", help="ISO date: issues created before it train (default: the latest issue's date)")
    p.add_argument("--repo-disjoint", action="store_true", help="keep test repositories out of train")
    p.add_argument("--configs", default=",".join(CONFIGS), help="memory configurations (default: %(default)s)")
    p.add_argument("--max-calls", type=int, default=40, help="LLM calls per attempt (default: %(default)s)")
    p.add_argument("--max-seconds", type=float, default=1800.0, help="LLM wall time per attempt (default: %(default)s)")
    p.add_argument("--steps", type=int, help=f"model turns in every stage (default: {RepairConfig().steps})")
    p.add_argument("--candidates", type=int, default=RepairConfig().candidates, help="patches per attempt")
    p.add_argument("--max-tokens", type=int, default=1024, help="completion tokens per call (a small model can loop "
                   "to the limit at temperature 0; 4096 at ~20 tok/s pass the request timeout)")
    p.add_argument("--timeout", type=float, default=LLMSettings.model_fields["timeout"].default,
                   help="seconds per LLM request (default: %(default)s)")
    p.add_argument("--workdir", type=Path, help="stores, split, results and reports (default: a new temp dir, kept)")
    args = p.parse_args()
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    if not args.configs or set(args.configs) - set(CONFIGS):
        p.error(f"--configs: choose from {', '.join(CONFIGS)}")
    return args


def main() -> None:
    args = options()
    for sig in (signal.SIGTERM, signal.SIGHUP):  # end like Ctrl-C, so the finally blocks stop our server
        signal.signal(sig, lambda number, _frame: sys.exit(128 + number))
    began = time.monotonic()
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="factory-bench-repair-"))).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    if (workdir / "repair.duckdb").exists():  # its memory would be recalled by this run's attempts
        raise SystemExit(f"{workdir} holds an earlier run (repair.duckdb): give a new --workdir")
    with model_server(args, workdir) as (base_url, origin):
        run(args, workdir, base_url, origin, began)


def run(args: argparse.Namespace, workdir: Path, base_url: str, origin: str, began: float) -> None:
    from factory.docker.runtime import connect

    served = time.monotonic()
    model = args.model or default_model(base_url)
    client = connect()
    dataset, settings = (demo_dataset(workdir, client) if args.dataset is None else
                         (args.dataset, Settings(db_path=workdir / "harness.duckdb", home=workdir / "home")))
    records = load_dataset(dataset)
    cutoff = cutoff_of(args.before, records)
    train_rows, test_rows = split(records, cutoff, workdir / "split", args.repo_disjoint)
    if not train_rows or not test_rows:
        raise SystemExit(f"split at {cutoff.isoformat()}: {len(train_rows)} train, {len(test_rows)} test; "
                         "pick another --before")
    built = time.monotonic()

    print(f"repair cycle on {dataset}: {len(records)} issue(s), split at {cutoff.isoformat()}"
          f"{' (repo-disjoint)' if args.repo_disjoint else ''}")
    sides = {r["instance_id"]: "train" for r in train_rows} | {r["instance_id"]: "test" for r in test_rows}
    for r in sorted(records, key=lambda r: str(r.get("created_at", ""))):
        print(f"  {sides.get(r['instance_id'], 'dropped'):<6}{r['instance_id']:<28}{r.get('created_at', '')}  "
              f"{short(r['problem_statement'])}")
    config = RepairConfig(candidates=args.candidates)
    config.steps = dict.fromkeys(config.steps, args.steps) if args.steps else config.steps
    budget = Budget(max_calls=args.max_calls, max_usd=1000.0, max_seconds=args.max_seconds)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    with Store(settings.db_path) as harness_store, Store(workdir / "repair.duckdb") as store:
        llm = LLMClient(LLMSettings(base_url=base_url, model=model, max_tokens=args.max_tokens,
                                    timeout=args.timeout), store)
        print(f"model {model} at {base_url} ({origin}); temperature {llm.settings.temperature}")
        print(f"steps {config.steps}; candidates {config.candidates}; recall k {config.recall_k}; max "
              f"{args.max_calls} calls and {args.max_seconds:.0f}s per attempt; max_tokens {args.max_tokens}")
        print(f"work dir {workdir} (repair.duckdb: memory + LLM ledger; split/ with train-results.json and "
              "eval-results.json; reports/)")
        ctx = CycleContext(client, llm, settings, harness_store, workdir / "reports", config, budget)
        bench = Run(ctx, store, f"train-{stamp}", f"eval-{stamp}")
        ctx.on_done = bench.done
        print(f"\ntrain (mode both, {len(train_rows)} issue(s) in time order; each graded and remembered)")
        header()
        trained = train(ctx, train_rows, ExperienceMemory(store), bench.train_id, mode="both")
        trained_at = time.monotonic()
        memory = ExperienceMemory(store, frozen=True)
        written = (len(memory.cases()), len(memory.insights(active_only=False)), len(memory.log()))
        memory_report(memory, store, trained)

        print(f"\nevaluation of {len(test_rows)} test issue(s) under {', '.join(args.configs)} (memory frozen)")
        bench.mark = time.monotonic()
        header()
        results = evaluate_configs(ctx, test_rows, store, bench.eval_id, args.configs)
        evaluated = time.monotonic()
        save_results(workdir / "split" / "train-results.json", {"train": trained})
        save_results(workdir / "split" / "eval-results.json", results)

        print("\nablation (render(rows(results, store)); p: exact McNemar vs none)")
        print(render(rows(results, store)))
        everything = {"train": trained, **results}
        costs(bench, store, everything)
        totals(bench, everything)
        after = (len(memory.cases()), len(memory.insights(active_only=False)), len(memory.log()))
        print(f"\nmemory (cases, insights, logged operations): {written} after training, {after} after evaluation"
              f"{' (unchanged: frozen)' if after == written else ' -- CHANGED during evaluation'}")
    print(f"wall: dataset + split {built - served:.0f}s, train {trained_at - built:.0f}s, evaluation "
          f"{evaluated - trained_at:.0f}s, total {time.monotonic() - began:.0f}s")


if __name__ == "__main__":
    main()
