"""A scripted, local OpenAI-compatible server for tests: the real ``openai`` client talks to it over HTTP.

``ScriptedLLM(responder)`` serves ``POST /v1/chat/completions`` and ``GET /v1/models`` on 127.0.0.1 (a free
port) in a background thread, with the real chat-completions wire format including ``usage``. The
responder is a list of items consumed in order, or ``callable(messages, request_json) -> item``. An item
is a ``str`` (the assistant's content) or a dict:

- ``{"content": "...", "cached_tokens": 8}``: an answer, optionally with cached prompt tokens;
- ``{"status": 429, "retry_after": 2}``, ``{"status": 500}``, ``{"status": 404, "error": "model not found"}``:
  an error with an OpenAI-style error body (``retry_after`` sets the ``Retry-After`` header);
- ``{"tool_call": {"name": "read_file", "arguments": {"path": "x"}}}``: a native tool call (``tool_calls``);
- ``"delay": seconds`` in any dict item waits before answering (to provoke client timeouts).

Tokens are counted deterministically: ``max(1, len(text) // 4)`` per message and per answer.
Every request body is kept in ``.requests`` (and its headers in ``.headers``). An exhausted script or an
unknown model answers like a real server would (500 / 404) so a test sees the mistake.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Item = str | dict[str, Any]
Responder = list[Item] | Callable[[list[dict[str, Any]], dict[str, Any]], Item]


def count_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class ScriptedLLM:
    """Context manager: ``with ScriptedLLM(["hi"]) as llm: ... llm.url ...``."""

    def __init__(self, responder: Responder, *, models: Iterable[str] = ("test-model",), api_key: str | None = None):
        self._script = list(responder) if isinstance(responder, list) else None
        self._callable = None if isinstance(responder, list) else responder
        self.models = list(models)
        self.api_key = api_key
        """When set, requests without ``Authorization: Bearer <api_key>`` get a 401."""
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # ---- lifecycle --------------------------------------------------------------------------------

    def start(self) -> ScriptedLLM:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                owner._handle_get(self)

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                owner._handle_post(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-llm", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        """The port it listens (or, once closed, listened) on."""
        assert self._port is not None, "server not started"
        return self._port

    @property
    def url(self) -> str:
        """Base URL for the OpenAI client: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def remaining(self) -> int:
        """Items of a list script not consumed yet."""
        return len(self._script) if self._script is not None else 0

    # ---- HTTP ---------------------------------------------------------------------------------------

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: object, headers: dict[str, str] | None = None):
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def _error(message: str, status: int, code: str | None = None) -> dict[str, Any]:
        kind = "invalid_request_error" if status < 500 else "server_error"
        if status == 429:
            kind = "rate_limit_exceeded"
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def _authorized(self, handler: BaseHTTPRequestHandler) -> bool:
        if self.api_key is None:
            return True
        if handler.headers.get("Authorization") == f"Bearer {self.api_key}":
            return True
        self._send(handler, 401, self._error("Incorrect API key provided.", 401, "invalid_api_key"))
        return False

    def _handle_get(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path.rstrip("/") != "/v1/models":
            self._send(handler, 404, self._error(f"no route {handler.path}", 404))
            return
        if not self._authorized(handler):
            return
        data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "tests"} for m in self.models]
        self._send(handler, 200, {"object": "list", "data": data})

    def _handle_post(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        if handler.path.rstrip("/") != "/v1/chat/completions":
            self._send(handler, 404, self._error(f"no route {handler.path}", 404))
            return
        body = json.loads(raw or b"{}")
        with self._lock:
            self.requests.append(body)
            self.headers.append({k.lower(): v for k, v in handler.headers.items()})
        if not self._authorized(handler):
            return
        model = body.get("model", "")
        if model not in self.models:
            self._send(handler, 404, self._error(f"The model `{model}` does not exist.", 404, "model_not_found"))
            return
        messages = body.get("messages", [])
        item = self._next(messages, body)
        if isinstance(item, str):
            item = {"content": item}
        if item.get("delay"):
            time.sleep(float(item["delay"]))
        status = int(item.get("status", 200))
        if status != 200:
            headers = {"Retry-After": str(item["retry_after"])} if "retry_after" in item else {}
            self._send(handler, status, self._error(str(item.get("error", f"scripted HTTP {status}")), status), headers)
            return
        content = str(item.get("content", ""))
        message: dict[str, Any] = {"role": "assistant", "content": content}
        finish = "stop"
        if "tool_call" in item:  # {"tool_call": {"name": ..., "arguments": {...}}}: a native tool call
            call = item["tool_call"]
            arguments = json.dumps(call.get("arguments", {}))
            message = {"role": "assistant", "content": None, "tool_calls": [{
                "id": f"call_{len(self.requests)}", "type": "function",
                "function": {"name": call["name"], "arguments": arguments}}]}
            finish, content = "tool_calls", call["name"] + arguments
        prompt = sum(count_tokens(str(m.get("content") or "")) for m in messages)
        completion = count_tokens(content)
        self._send(handler, 200, {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{
                "index": 0,
                "message": message,
                "finish_reason": finish,
                "logprobs": None,
            }],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": min(int(item.get("cached_tokens", 0)), prompt)},
            },
        })

    def _next(self, messages: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any] | str:
        if self._callable is not None:
            return self._callable(messages, body)
        with self._lock:
            assert self._script is not None
            if not self._script:
                return {"status": 500, "error": "ScriptedLLM: the script has no more responses"}
            return self._script.pop(0)
