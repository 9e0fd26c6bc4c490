"""A server that speaks OPA's REST API and evaluates with the embedded OPA engine.

OPA itself cannot run here, so the `opa` backend is tested against this: a real HTTP server
on 127.0.0.1, port 0, implementing what the broker uses of OPA's REST API
(https://www.openpolicyagent.org/docs/rest-api):

    GET/PUT/DELETE /v1/policies/{id}    modules, compiled together on every change;
                                        400 with OPA's error shape if they do not compile
    GET /v1/policies                    {"result": [{"id", "raw"}]}
    GET/PUT/DELETE /v1/data/{path}      base documents; GET also evaluates rules
    POST /v1/data/{path}                {"input": ...} -> {"result": ...}, or {} if undefined

`delay_seconds` makes every POST answer late (a slow OPA); `requests` counts what came in.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from opa_bindings import OpaEngine, OpaError, OpaUndefinedError

POLICIES = "/v1/policies"
DATA = "/v1/data"


class OpaEmulator:
    """The state behind the server: modules, base documents, and a compiled engine."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.modules: dict[str, str] = {}
        self.data: dict[str, Any] = {}
        self.engine = OpaEngine()
        self.delay_seconds = 0.0
        self.requests: Counter[str] = Counter()

    def compile(self, modules: dict[str, str], data: dict[str, Any]) -> str | None:
        """Swaps in a new engine with these modules and data; the error, if they fail."""
        engine = OpaEngine()
        try:
            for policy_id, source in modules.items():
                engine.add_policy(policy_id, source)
            engine.add_data(data)
            engine.eval_query("x := 1")  # compiles everything now, as OPA does on PUT
        except OpaError as e:
            engine.close()
            return str(e.message)
        self.engine.close()
        self.engine, self.modules, self.data = engine, modules, data
        return None

    def evaluate(self, path: list[str], policy_input: Any) -> tuple[bool, Any]:
        """(defined, value) of data.<path>; OpaError if evaluation fails."""
        try:
            return True, self.engine.eval_document(".".join(path), policy_input)
        except OpaUndefinedError:
            return False, None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- routing ----------------------------------------------------------------------

    def do_GET(self) -> None:
        self._route("GET")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _route(self, method: str) -> None:
        path = unquote(urlsplit(self.path).path).rstrip("/")
        state = self.server.state
        parts = path.split("/")  # ["", "v1", "data", ...]
        with state.lock:
            state.requests[f"{method} {parts[2] if len(parts) > 2 else path}"] += 1
        body = self._body()
        if path == POLICIES or path.startswith(POLICIES + "/"):
            policy_id = path[len(POLICIES) + 1 :]
            self._policies(method, policy_id, body)
        elif path == DATA or path.startswith(DATA + "/"):
            segments = [s for s in path[len(DATA) + 1 :].split("/") if s]
            self._data(method, segments, body)
        else:
            self._reply(404, {"code": "resource_not_found", "message": f"no route {path}"})

    # -- /v1/policies -----------------------------------------------------------------

    def _policies(self, method: str, policy_id: str, body: bytes) -> None:
        state = self.server.state
        with state.lock:
            if method == "GET" and not policy_id:
                listing = [{"id": i, "raw": raw} for i, raw in sorted(state.modules.items())]
                self._reply(200, {"result": listing})
            elif method == "GET" and policy_id in state.modules:
                self._reply(200, {"result": {"id": policy_id, "raw": state.modules[policy_id]}})
            elif method == "PUT" and policy_id:
                modules = {**state.modules, policy_id: body.decode()}
                error = state.compile(modules, state.data)
                if error is None:
                    self._reply(200, {})
                else:
                    self._reply(400, _compile_error(error))
            elif method == "DELETE" and policy_id in state.modules:
                modules = {k: v for k, v in state.modules.items() if k != policy_id}
                error = state.compile(modules, state.data)
                if error is None:
                    self._reply(200, {})
                else:
                    self._reply(400, _compile_error(error))
            else:
                self._reply(404, {"code": "resource_not_found", "message": "policy not found"})

    # -- /v1/data ---------------------------------------------------------------------

    def _data(self, method: str, segments: list[str], body: bytes) -> None:
        state = self.server.state
        if method == "POST":
            if state.delay_seconds:
                time.sleep(state.delay_seconds)
            try:
                request = json.loads(body or b"{}")
            except ValueError as e:
                self._reply(400, {"code": "invalid_parameter", "message": str(e)})
                return
            self._query(segments, request.get("input") if isinstance(request, dict) else None)
            return
        if method == "GET":
            self._query(segments, None)
            return
        with state.lock:
            if method == "PUT" and segments:
                data = json.loads(json.dumps(state.data))
                _set(data, segments, json.loads(body))
                error = state.compile(state.modules, data)
                if error is None:
                    self._reply(204, None)
                else:
                    self._reply(400, {"code": "invalid_parameter", "message": error})
            elif method == "DELETE" and segments and _has(state.data, segments):
                data = json.loads(json.dumps(state.data))
                _delete(data, segments)
                state.compile(state.modules, data)
                self._reply(204, None)
            else:
                self._reply(404, {"code": "resource_not_found", "message": "document missing"})

    def _query(self, segments: list[str], policy_input: Any) -> None:
        state = self.server.state
        try:
            with state.lock:
                defined, value = state.evaluate(segments or [], policy_input)
        except OpaError as e:
            self._reply(500, {"code": "internal_error", "message": e.message})
            return
        self._reply(200, {"result": value} if defined else {})

    # -- plumbing ---------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, document: Any) -> None:
        payload = b"" if document is None else json.dumps(document).encode()
        self.send_response(status)
        if document is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: OpaEmulator) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (the broker's deadline passed) is expected, not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _compile_error(message: str) -> dict[str, Any]:
    return {
        "code": "invalid_parameter",
        "message": "error(s) occurred while compiling module(s)",
        "errors": [{"code": "rego_compile_error", "message": message}],
    }


def _set(data: dict[str, Any], segments: list[str], value: Any) -> None:
    for segment in segments[:-1]:
        data = data.setdefault(segment, {})
    data[segments[-1]] = value


def _has(data: Any, segments: list[str]) -> bool:
    for segment in segments:
        if not isinstance(data, dict) or segment not in data:
            return False
        data = data[segment]
    return True


def _delete(data: dict[str, Any], segments: list[str]) -> None:
    for segment in segments[:-1]:
        data = data[segment]
    del data[segments[-1]]


@contextmanager
def opa_server() -> Iterator[tuple[str, OpaEmulator]]:
    """A running server: (its URL, its state). Stopped on exit."""
    state = OpaEmulator()
    server = _Server(state)
    thread = threading.Thread(target=server.serve_forever, name="opa-emulator", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        state.engine.close()
