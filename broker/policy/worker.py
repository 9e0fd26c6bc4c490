"""A policy worker process: one embedded OPA engine, driven over stdin/stdout.

    python -m broker.policy.worker

No OPA evaluation can be interrupted (DESIGN.md, "Policy engines"), so the broker evaluates
in processes like this one and kills one that misses its deadline (broker/policy/pool.py).

Protocol (frames of broker/policy/channel.py): the first frame is the bundle,
{"modules": {name: source}, "data": {...}}; the worker compiles it (integrity rules
included) and answers {"ready": true} or {"error": message}. Then each frame
{"document": "broker.decision", "input": {...}} is answered with {"value": ...},
{"undefined": true} or {"error": message}. End of input ends the worker.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, BinaryIO

from broker.errors import PolicyLoadError
from broker.policy.channel import FRAME_HEADER, MAX_FRAME_BYTES, ChannelClosedError, decode, encode

# How often a worker checks that the broker that started it still runs.
PARENT_CHECK_SECONDS = 0.5


def main() -> int:
    _die_with_parent()
    inbound = sys.stdin.buffer
    # Frames go to the original stdout; anything else printed (OPA's print(), a stray
    # Python print) goes to stderr and cannot corrupt a frame.
    outbound = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    bundle = _read(inbound)
    if bundle is None:
        return 0
    try:
        from broker.policy.compiler import compile_engine

        engine = compile_engine(bundle["modules"], bundle["data"])
    except (PolicyLoadError, KeyError, TypeError) as e:
        _write(outbound, {"error": str(e)})
        return 1
    _write(outbound, {"ready": True})
    while (request := _read(inbound)) is not None:
        if not isinstance(request, dict):
            _write(outbound, {"error": "a request must be a JSON object"})
            continue
        _write(outbound, _evaluate(engine, request.get("document"), request.get("input")))
    return 0


def _evaluate(engine: Any, document: Any, policy_input: Any) -> dict[str, Any]:
    from opa_bindings import OpaError, OpaUndefinedError

    if not isinstance(document, str):
        return {"error": "document: expected a string"}
    try:
        return {"value": engine.eval_document(document, policy_input)}
    except OpaUndefinedError:
        return {"undefined": True}
    except OpaError as e:
        return {"error": f"{e.code}: {e.message}"}
    except (TypeError, ValueError) as e:
        return {"error": f"the input is not JSON: {e}"}


def _read(stream: BinaryIO) -> Any:
    header = stream.read(FRAME_HEADER.size)
    if len(header) < FRAME_HEADER.size:
        return None
    (length,) = FRAME_HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        return None
    body = stream.read(length)
    if len(body) < length:
        return None
    try:
        return decode(body)
    except ChannelClosedError:
        return None


def _write(stream: BinaryIO, message: dict[str, Any]) -> None:
    stream.write(encode(message))
    stream.flush()


def _die_with_parent() -> None:
    """Exits when the broker does, even in the middle of an evaluation.

    A watchdog thread, not prctl(PR_SET_PDEATHSIG): that signal fires when the *thread*
    that started the worker ends, and the broker starts replacements from short-lived
    threads. The evaluation itself runs in Go with the GIL released, so this thread runs."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
