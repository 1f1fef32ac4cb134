"""agents/llm/ against a real local HTTP server speaking the OpenAI wire format (tests/llm_server.py)."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import openai
import pytest
from pydantic import SecretStr

from agents.llm import (
    DEFAULT_PRICES,
    Budget,
    BudgetExceeded,
    LLMClient,
    LLMRequestError,
    LLMSettings,
    LLMUnavailable,
    Price,
    ReplayMiss,
    Reply,
    price_for,
)
from factory.core.errors import UserError
from factory.store import Store
from tests.llm_server import ScriptedLLM

MODEL = "test-model"
PRICE = Price(input_per_mtok=1000.0, output_per_mtok=2000.0, cached_per_mtok=100.0)  # big: $ visible in tests


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "factory.duckdb") as s:
        yield s


class Sleeps(list):
    """Injected instead of time.sleep: records the delays, never sleeps."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def settings(url: str, **kw) -> LLMSettings:
    values = {"base_url": url, "model": MODEL, "prices": {MODEL: PRICE}, **kw}
    return LLMSettings(**values)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You set up Python projects."}, {"role": "user", "content": text}]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def tokens(text: str) -> int:  # the server's documented counting rule
    return max(1, len(text) // 4)


# ---- wire format and ledger ----------------------------------------------------------------------


def test_real_sdk_speaks_to_the_scripted_server():
    with ScriptedLLM(["pong"], models=[MODEL, "other"]) as srv:
        client = openai.OpenAI(base_url=srv.url, api_key="k", max_retries=0)
        done = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "ping"}])
        assert done.choices[0].message.content == "pong"
        assert done.choices[0].finish_reason == "stop"
        assert done.usage.prompt_tokens == 1 and done.usage.completion_tokens == 1
        assert done.usage.prompt_tokens_details.cached_tokens == 0
        assert sorted(m.id for m in client.models.list()) == ["other", MODEL]
        assert srv.requests == [{"model": MODEL, "messages": [{"role": "user", "content": "ping"}]}]


def test_chat_returns_text_and_writes_a_ledger_row_with_dollars(store: Store):
    prompt = user("Which Python version does this repo need? " * 3)
    with ScriptedLLM([{"content": "FROM python:3.11-slim", "cached_tokens": 8}]) as srv:
        client = LLMClient(settings(srv.url, api_key="sk-test", max_tokens=512), store, sleep=Sleeps())
        session = client.session("o__r-1", Budget())
        reply = session.chat("environment_manager", prompt)

    t_in = sum(tokens(m["content"]) for m in prompt)
    t_out = tokens("FROM python:3.11-slim")
    usd = ((t_in - 8) * 1000.0 + 8 * 100.0 + t_out * 2000.0) / 1e6
    assert isinstance(reply, Reply)
    assert (reply.text, reply.tokens_in, reply.tokens_out, reply.tokens_cached) == (
        "FROM python:3.11-slim", t_in, t_out, 8,
    )
    assert reply.usd == pytest.approx(usd) and usd > 0
    assert reply.replayed is False
    # what went over the wire: text chat, our params, no tools
    assert srv.requests == [{"model": MODEL, "messages": prompt, "temperature": 0.0, "max_tokens": 512}]
    assert srv.headers[0]["authorization"] == "Bearer sk-test"

    (row,) = store.llm_calls("o__r-1")
    canonical = json.dumps(
        {"model": MODEL, "messages": prompt, "temperature": 0.0, "max_tokens": 512},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
    assert row["request_sha"] == hashlib.sha256(canonical.encode()).hexdigest() == reply.request_sha
    assert (row["role"], row["model"], row["status"], row["error"]) == ("environment_manager", MODEL, "ok", "")
    assert (row["tokens_in"], row["tokens_out"], row["tokens_cached"]) == (t_in, t_out, 8)
    assert row["usd"] == pytest.approx(usd)
    assert row["seconds"] > 0
    request = json.loads(row["request"])
    assert request["messages"] == prompt and request["max_tokens"] == 512 and request["temperature"] == 0.0
    response = json.loads(row["response"])
    assert response["text"] == "FROM python:3.11-slim"
    assert response["usage"]["prompt_tokens"] == t_in
    assert response["usage"]["prompt_tokens_details"]["cached_tokens"] == 8

    assert (session.calls, session.tokens_in, session.tokens_out) == (1, t_in, t_out)
    assert session.usd == pytest.approx(usd)
    totals = store.llm_totals("o__r-1")
    assert (totals["calls"], totals["tokens_in"], totals["tokens_out"], totals["errors"]) == (1, t_in, t_out, 0)
    assert totals["usd"] == pytest.approx(usd)
    assert store.llm_totals("someone-else")["calls"] == 0
    assert client.label == "llm:test-model"


def test_unknown_model_costs_nothing_but_tokens_are_counted(store: Store):
    with ScriptedLLM(["ok"], models=["my-local-llama"]) as srv:
        client = LLMClient(LLMSettings(base_url=srv.url, model="my-local-llama"), store)
        reply = client.session("i", Budget()).chat("explorer", user("hello world, hello"))
    assert reply.usd == 0.0 and reply.tokens_in > 0 and reply.tokens_out == 1
    assert store.llm_totals()["tokens_in"] == reply.tokens_in


def test_price_table_lookup():
    assert DEFAULT_PRICES["gpt-4.1-mini"] == Price(input_per_mtok=0.40, output_per_mtok=1.60, cached_per_mtok=0.10)
    assert price_for("gpt-4o-mini-2024-07-18", DEFAULT_PRICES) is DEFAULT_PRICES["gpt-4o-mini"]
    assert price_for("openai/gpt-4o", DEFAULT_PRICES) is DEFAULT_PRICES["gpt-4o"]
    assert price_for("qwen2.5-coder:7b", DEFAULT_PRICES) is None
    p = DEFAULT_PRICES["gpt-4o-mini"]
    assert p.usd(1_000_000, 1_000_000, 400_000) == pytest.approx(0.6 * 0.15 + 0.4 * 0.075 + 0.60)
    # no separate cache price: cached tokens are billed as input
    assert Price(input_per_mtok=1, output_per_mtok=0).usd(1_000_000, 0, 1_000_000) == pytest.approx(1.0)


# ---- retries -------------------------------------------------------------------------------------


def test_429_is_retried_honouring_retry_after(store: Store):
    sleeps = Sleeps()
    script = [{"status": 429, "retry_after": 2}, {"status": 429, "retry_after": "0.5"}, "done"]
    with ScriptedLLM(script) as srv:
        client = LLMClient(settings(srv.url, backoff_seconds=7.0), store, sleep=sleeps)
        reply = client.session("i", Budget()).chat("test_manager", user("write the eval script"))
        assert len(srv.requests) == 3
    assert reply.text == "done"
    assert sleeps == [2.0, 0.5]
    (row,) = store.llm_calls("i")  # one call, whatever its retries
    assert row["status"] == "ok"
    assert [r.split(":")[0] for r in json.loads(row["response"])["retries"]] == ["HTTP 429", "HTTP 429"]


def test_5xx_is_retried_with_exponential_backoff(store: Store):
    sleeps = Sleeps()
    with ScriptedLLM([{"status": 500}, {"status": 503}, {"status": 502}, "fine"]) as srv:
        client = LLMClient(settings(srv.url, backoff_seconds=0.5), store, sleep=sleeps)
        assert client.session("i", Budget()).chat("explorer", user("x")).text == "fine"
        assert len(srv.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_retries_stop_at_max_retries_with_a_clear_error(store: Store):
    sleeps = Sleeps()
    with ScriptedLLM([{"status": 429}] * 10) as srv:
        client = LLMClient(settings(srv.url, max_retries=2, backoff_seconds=1.0), store, sleep=sleeps)
        with pytest.raises(LLMUnavailable) as err:
            client.session("i", Budget()).chat("explorer", user("x"))
        assert len(srv.requests) == 3
        assert srv.url in err.value.what and "3 tries" in err.value.what
    assert sleeps == [1.0, 2.0]
    (row,) = store.llm_calls("i")
    assert row["status"] == "error" and "429" in row["error"] and row["response"] == ""


def test_bad_request_is_not_retried(store: Store):
    sleeps = Sleeps()
    with ScriptedLLM([{"status": 400, "error": "context length exceeded"}, "never"]) as srv:
        client = LLMClient(settings(srv.url), store, sleep=sleeps)
        with pytest.raises(LLMRequestError) as err:
            client.session("i", Budget()).chat("explorer", user("x"))
        assert len(srv.requests) == 1
    assert err.value.status == 400 and "context length exceeded" in err.value.what
    assert sleeps == []


def test_timeouts_are_retried_then_reported(store: Store):
    sleeps = Sleeps()
    with ScriptedLLM([{"content": "late", "delay": 1.0}] * 2) as srv:
        client = LLMClient(settings(srv.url, timeout=0.2, max_retries=1), store, sleep=sleeps)
        with pytest.raises(LLMUnavailable) as err:
            client.session("i", Budget()).chat("explorer", user("x"))
    assert "did not answer within 0.2s" in err.value.what and srv.url in err.value.what
    assert sleeps == [1.0]


# ---- unavailable endpoint, model, key ------------------------------------------------------------


def test_endpoint_down_names_the_url(store: Store):
    url = closed_port_url()
    sleeps = Sleeps()
    client = LLMClient(settings(url, max_retries=2), store, sleep=sleeps)
    with pytest.raises(LLMUnavailable) as err:
        client.session("i", Budget()).chat("explorer", user("x"))
    assert isinstance(err.value, UserError)
    assert url in err.value.what
    assert "FACTORY_LLM_BASE_URL" in err.value.fix and "start the server" in err.value.fix
    assert sleeps == [1.0, 2.0]
    (row,) = store.llm_calls("i")
    assert row["status"] == "error" and url in row["error"]


def test_unknown_model_is_named(store: Store):
    sleeps = Sleeps()
    with ScriptedLLM(["never"], models=["qwen2.5-coder"]) as srv:
        client = LLMClient(settings(srv.url, model="gpt-9-ultra"), store, sleep=sleeps)
        with pytest.raises(LLMUnavailable) as err:
            client.session("i", Budget()).chat("explorer", user("x"))
    assert "'gpt-9-ultra'" in err.value.what
    assert "qwen2.5-coder" in err.value.what  # what the server does serve
    assert "FACTORY_LLM_MODEL" in err.value.fix
    assert sleeps == []


def test_scripted_404_model_not_found_is_named(store: Store):
    with ScriptedLLM([{"status": 404, "error": "model not found"}]) as srv:
        client = LLMClient(settings(srv.url), store, sleep=Sleeps())
        with pytest.raises(LLMUnavailable, match="does not know the model 'test-model'"):
            client.session("i", Budget()).chat("explorer", user("x"))


def test_wrong_api_key_is_reported(store: Store):
    with ScriptedLLM(["never"], api_key="sk-right") as srv:
        client = LLMClient(settings(srv.url, api_key="sk-wrong"), store, sleep=Sleeps())
        with pytest.raises(LLMUnavailable) as err:
            client.session("i", Budget()).chat("explorer", user("x"))
    assert "API key" in err.value.what and "FACTORY_LLM_API_KEY" in err.value.fix


def test_live_call_without_a_model_says_how_to_configure(store: Store):
    client = LLMClient(None, store)
    with pytest.raises(LLMUnavailable) as err:
        client.session("i", Budget()).chat("explorer", user("x"))
    assert "FACTORY_LLM_MODEL" in err.value.fix and "--replay" in err.value.fix
    assert store.llm_calls() == []


# ---- budgets -------------------------------------------------------------------------------------


def test_budget_max_calls_stops_before_sending(store: Store):
    with ScriptedLLM(["a", "b", "c"]) as srv:
        session = LLMClient(settings(srv.url), store).session("i", Budget(max_calls=2, max_usd=100))
        session.chat("explorer", user("1"))
        session.chat("explorer", user("2"))
        with pytest.raises(BudgetExceeded) as err:
            session.chat("explorer", user("3"))
        assert err.value.reason == "max_calls"
        assert len(srv.requests) == 2 and srv.remaining == 1
    assert session.calls == 2 and len(store.llm_calls("i")) == 2


def test_budget_max_usd_stops_before_sending(store: Store):
    with ScriptedLLM(["a" * 400, "b"]) as srv:
        session = LLMClient(settings(srv.url), store).session("i", Budget(max_usd=0.10))
        first = session.chat("explorer", user("1"))
        assert first.usd > 0.10  # 100 completion tokens at $2000/Mtok = $0.20
        with pytest.raises(BudgetExceeded) as err:
            session.chat("explorer", user("2"))
        assert err.value.reason == "max_usd"
        assert len(srv.requests) == 1


def test_budget_max_seconds(store: Store):
    sleeps = Sleeps()
    with ScriptedLLM([{"status": 429, "retry_after": 100}, "late"]) as srv:
        client = LLMClient(settings(srv.url), store, sleep=sleeps)
        with pytest.raises(BudgetExceeded) as err:
            client.session("i", Budget(max_seconds=0)).chat("explorer", user("x"))
        assert err.value.reason == "max_seconds" and srv.requests == []
        # a Retry-After that would overrun the wall-time budget ends the call instead of sleeping
        with pytest.raises(BudgetExceeded) as err:
            client.session("j", Budget(max_seconds=30)).chat("explorer", user("x"))
        assert err.value.reason == "max_seconds" and len(srv.requests) == 1
    assert sleeps == []
    assert [r["status"] for r in store.llm_calls("j")] == ["error"]


# ---- replay --------------------------------------------------------------------------------------


def record_run(store: Store, answers: list[str]) -> None:
    with ScriptedLLM(answers) as srv:
        session = LLMClient(settings(srv.url, api_key="sk-rec"), store).session("o__r-7", Budget())
        session.chat("explorer", user("list the repo"))
        session.chat("explorer", user("list the repo"))  # identical request, a second answer
        session.chat("test_manager", user("write the eval script"))


def test_replay_answers_in_order_without_any_server(store: Store):
    record_run(store, ["first", "second", "pytest -x tests"])
    spent = store.llm_totals()["usd"]
    dead = closed_port_url()  # nothing listens there: any network call would fail

    client = LLMClient(settings(dead), store, replay=True)
    session = client.session("o__r-7", Budget())
    replies = [
        session.chat("explorer", user("list the repo")),
        session.chat("explorer", user("list the repo")),
        session.chat("test_manager", user("write the eval script")),
    ]
    assert [r.text for r in replies] == ["first", "second", "pytest -x tests"]
    assert all(r.replayed and r.usd == 0.0 for r in replies)
    assert session.usd == 0.0 and session.calls == 3

    with pytest.raises(ReplayMiss) as err:  # recorded twice only
        session.chat("explorer", user("list the repo"))
    assert "'explorer'" in err.value.what
    with pytest.raises(ReplayMiss) as err:  # a changed prompt is a new request
        session.chat("test_manager", user("write the eval script, differently"))
    assert "'test_manager'" in err.value.what and "o__r-7" in err.value.what

    rows = store.llm_calls("o__r-7")
    assert [r["status"] for r in rows] == ["ok"] * 3 + ["replayed"] * 3
    assert all(r["usd"] == 0.0 for r in rows[3:])
    totals = store.llm_totals()
    assert totals["calls"] == 3 and totals["replayed"] == 3 and totals["usd"] == pytest.approx(spent)


def test_replay_without_settings_uses_the_most_recent_recording(store: Store):
    record_run(store, ["old-1", "old-2", "old-3"])
    record_run(store, ["new-1", "new-2", "new-3"])
    client = LLMClient(None, store, replay=True)
    assert client.label == "llm:test-model"
    session = client.session("o__r-7", Budget())
    assert session.chat("explorer", user("list the repo")).text == "new-1"
    assert session.chat("explorer", user("list the repo")).text == "new-2"


def test_replay_reproduces_the_dollar_budget(store: Store):
    record_run(store, ["a" * 400, "b", "c"])  # the first answer alone costs $0.20
    session = LLMClient(settings(closed_port_url()), store, replay=True).session("o__r-7", Budget(max_usd=0.1))
    session.chat("explorer", user("list the repo"))
    with pytest.raises(BudgetExceeded) as err:
        session.chat("explorer", user("list the repo"))
    assert err.value.reason == "max_usd"


def test_replay_miss_on_an_empty_ledger(store: Store):
    session = LLMClient(None, store, replay=True).session("i", Budget())
    with pytest.raises(ReplayMiss, match="'explorer'"):
        session.chat("explorer", user("x"))


# ---- secrets and settings ------------------------------------------------------------------------


def test_api_key_never_reaches_the_ledger_or_the_database_file(tmp_path: Path):
    canary = "sk-canary-123"
    db = tmp_path / "canary.duckdb"
    script = ["MARKER-answer-42", {"status": 401, "error": f"Incorrect API key provided: {canary}"}]
    with Store(db) as store, ScriptedLLM(script) as srv:
        client = LLMClient(settings(srv.url, api_key=canary), store, sleep=Sleeps())
        session = client.session("i", Budget())
        session.chat("explorer", user("MARKER-prompt-17"))
        with pytest.raises(LLMUnavailable) as err:
            session.chat("explorer", user("again"))
        assert canary not in str(err.value)
        assert srv.headers[0]["authorization"] == f"Bearer {canary}"  # the key was really in use
        rows = store.llm_calls()
        assert len(rows) == 2
        for row in rows:
            assert all(canary not in str(value) for value in row.values())
            if row["request"]:
                assert canary not in row["request"] and "api_key" not in json.loads(row["request"])
        assert canary not in repr(client.settings)
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("canary.duckdb"))
    assert b"MARKER-prompt-17" in data and b"MARKER-answer-42" in data  # the scan does see stored text
    assert canary.encode() not in data


def test_from_env_reads_factory_then_openai_variables(monkeypatch: pytest.MonkeyPatch):
    for name in ("FACTORY_LLM_BASE_URL", "FACTORY_LLM_MODEL", "FACTORY_LLM_API_KEY", "OPENAI_BASE_URL",
                 "OPENAI_MODEL", "OPENAI_API_KEY", "FACTORY_LLM_TIMEOUT", "FACTORY_LLM_PRICES"):
        monkeypatch.delenv(name, raising=False)
    assert LLMSettings.from_env() is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert LLMSettings.from_env() is None  # a key alone does not turn the LLM on

    monkeypatch.setenv("OPENAI_MODEL", "gpt-4o-mini")
    s = LLMSettings.from_env()
    assert (s.model, s.base_url) == ("gpt-4o-mini", "https://api.openai.com/v1")
    assert s.api_key == SecretStr("sk-openai") and "sk-openai" not in repr(s)

    monkeypatch.setenv("OPENAI_BASE_URL", "http://openai-proxy:4000/v1")
    monkeypatch.setenv("FACTORY_LLM_MODEL", "qwen2.5-coder")
    monkeypatch.setenv("FACTORY_LLM_BASE_URL", "http://localhost:8000/v1")
    monkeypatch.setenv("FACTORY_LLM_API_KEY", "")  # empty counts as unset
    s = LLMSettings.from_env()
    assert (s.model, s.base_url) == ("qwen2.5-coder", "http://localhost:8000/v1")
    assert s.api_key.get_secret_value() == "sk-openai"
    monkeypatch.setenv("FACTORY_LLM_API_KEY", "sk-factory")
    assert LLMSettings.from_env().api_key.get_secret_value() == "sk-factory"

    monkeypatch.setenv("FACTORY_LLM_PRICES", '{"qwen2.5-coder": {"input_per_mtok": 0.1, "output_per_mtok": 0.2}}')
    monkeypatch.setenv("FACTORY_LLM_TIMEOUT", "30")
    s = LLMSettings.from_env()
    assert s.prices["qwen2.5-coder"].output_per_mtok == 0.2 and "gpt-4.1-mini" in s.prices
    assert s.timeout == 30.0
    monkeypatch.setenv("FACTORY_LLM_PRICES", "not json")
    with pytest.raises(UserError, match="FACTORY_LLM_PRICES"):
        LLMSettings.from_env()

    assert LLMSettings.from_env({"FACTORY_LLM_MODEL": "m"}).base_url == "https://api.openai.com/v1"


def test_settings_defaults_are_independent():
    a = LLMSettings(base_url="u", model="m")
    a.prices["m"] = PRICE
    assert "m" not in LLMSettings(base_url="u", model="m").prices and "m" not in DEFAULT_PRICES
    assert (a.timeout, a.max_retries, a.temperature, a.max_tokens, a.native_tools) == (120, 4, 0.0, 4096, False)


def test_malformed_messages_are_refused_before_any_call(store: Store):
    with ScriptedLLM(["x"]) as srv:
        session = LLMClient(settings(srv.url), store).session("i", Budget())
        with pytest.raises(ValueError, match="message 0"):
            session.chat("explorer", [{"role": "user"}])
        assert srv.requests == []
