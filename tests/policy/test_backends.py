"""The three ways the broker evaluates the same bundle decide alike: the embedded engine in
process, the embedded engine in worker processes (the broker's default), and a server that
speaks OPA's REST API through opa-python-client (the `opa` backend). One corpus, every
backend, identical decisions and releases. And the `opa` backend fails closed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.errors import DecisionTimeoutError, PolicyError, PolicyLoadError
from broker.models import Decision, Release
from broker.policy.bundle import PolicyBundle
from broker.policy.check import check_answers
from broker.policy.embedded import EmbeddedEngine
from broker.policy.engine import PolicyEngine
from broker.policy.opa import (
    STAMP_ID,
    OpaServerEngine,
    dependency_order,
    parse_opa_url,
    stamp_module,
)
from broker.policy.pool import IsolatedEngine
from tests.policy.corpus import decision_inputs, release_inputs
from tests.policy.opa_server import OpaEmulator, opa_server
from tests.policy.scenario import FBI_INVESTIGATOR, identify_input


@pytest.fixture(scope="module")
def opa(bundle: PolicyBundle) -> Iterator[tuple[str, OpaEmulator, OpaServerEngine]]:
    with opa_server() as (url, state):
        engine = OpaServerEngine(bundle, url, timeout=2.0)
        yield url, state, engine
        engine.close()


@pytest.fixture(scope="module")
def isolated(bundle: PolicyBundle) -> Iterator[IsolatedEngine]:
    engine = IsolatedEngine(bundle, workers=2, timeout=5.0)
    yield engine
    engine.close()


def _decide(engine: PolicyEngine, policy_input: dict[str, Any]) -> Decision | str:
    try:
        return engine.decide(policy_input)
    except PolicyError as e:
        return f"PolicyError: {type(e).__name__}"


def _release(engine: PolicyEngine, release_input: dict[str, Any]) -> Release | str:
    try:
        return engine.release(release_input)
    except PolicyError as e:
        return f"PolicyError: {type(e).__name__}"


def test_one_corpus_through_every_backend_gives_identical_decisions_and_releases(
    bundle: PolicyBundle,
    engine: EmbeddedEngine,
    isolated: IsolatedEngine,
    opa: tuple[str, OpaEmulator, OpaServerEngine],
) -> None:
    _, state, server_engine = opa
    cases = decision_inputs(bundle)
    allowed = []
    for name, policy_input in cases:
        expected = _decide(engine, policy_input)
        assert _decide(isolated, policy_input) == expected, name
        assert _decide(server_engine, policy_input) == expected, name
        if isinstance(expected, Decision) and expected.allow:
            allowed.append((name, policy_input, expected.obligations.to_json()))
    releases = release_inputs(allowed)
    for name, release_input in releases:
        expected_release = _release(engine, release_input)
        assert isinstance(expected_release, Release), name
        assert _release(isolated, release_input) == expected_release, name
        assert _release(server_engine, release_input) == expected_release, name
    # The corpus means something: both outcomes, many releases, every withheld reason.
    decisions = [_decide(engine, i) for _, i in cases]
    assert len(cases) >= 120
    assert sum(isinstance(d, Decision) and d.allow for d in decisions) >= 50
    assert sum(isinstance(d, Decision) and not d.allow for d in decisions) >= 10
    assert len(releases) >= 40
    withheld = {
        code
        for _, r in releases
        for w in _release(engine, r).withheld  # type: ignore[union-attr]
        for code in w.reasons
    }
    assert {
        "retention_expired",
        "consent_withdrawn",
        "consent_scope_missing",
        "jurisdiction_forbids_purpose",
        "no_agency_agreement",
        "no_agreement",
        "unknown_lineage_agency",
        "below_min_score",
    } <= withheld
    assert state.requests["POST data"] >= len(cases) + len(releases)


def test_opa_backend_passes_the_check_the_broker_runs(
    bundle: PolicyBundle, opa: tuple[str, OpaEmulator, OpaServerEngine]
) -> None:
    report = check_answers(bundle, opa[2])
    assert report.decisions > 100 and report.releases > 0


def test_push_replaces_what_was_pushed_before(bundle: PolicyBundle, policy_copy: Path) -> None:
    (policy_copy / "extra.rego").write_text("package broker.extra\n\nx := data.extra.y\n")
    (policy_copy / "extra.json").write_text('{"y": 1}')
    (policy_copy / "extra.schema.json").write_text('{"type": "object"}')
    larger = PolicyBundle.load(policy_copy)
    fbi = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
    with opa_server() as (url, state):
        first = OpaServerEngine(larger, url, timeout=2.0)
        assert "biometric-broker/extra.rego" in state.modules
        assert state.data["extra"] == {"y": 1}
        assert set(state.data) == set(larger.data)
        assert isinstance(first.decide(fbi), Decision)
        second = OpaServerEngine(bundle, url, timeout=2.0)
        assert "biometric-broker/extra.rego" not in state.modules, "a dropped module is deleted"
        assert "extra" not in state.data, "a dropped data document is deleted"
        assert state.modules[STAMP_ID] == stamp_module(bundle.revision, list(bundle.data))
        assert len(state.modules) == len(bundle.modules) + 1
        # The first engine's bundle is gone from the server: its answers are refused.
        with pytest.raises(PolicyError, match=f"not {larger.revision}"):
            first.decide(fbi)
        assert second.decide(fbi) == EmbeddedEngine(bundle).decide(fbi)
        first.close()
        second.close()


def test_modules_go_up_after_the_packages_they_import(bundle: PolicyBundle) -> None:
    order = dependency_order(bundle.modules)
    assert sorted(order) == sorted(bundle.modules)
    assert order.index("jurisdictions.rego") < order.index("agencies.rego")
    assert order.index("agreements.rego") < order.index("outside_access.rego")
    assert order.index("scope.rego") < order.index("decision.rego")
    cyclic = {"a.rego": "package a\nimport data.b\n", "b.rego": "package b\nimport data.a\n"}
    assert dependency_order(cyclic) == ["a.rego", "b.rego"]


def test_modules_that_cannot_compile_on_the_server_are_refused(policy_copy: Path) -> None:
    (policy_copy / "calls.rego").write_text(
        "package broker.calls\n\nx := data.broker.nowhere.f(1)\n"
    )
    broken = PolicyBundle.load(policy_copy, compile_now=False)
    with opa_server() as (url, _state), pytest.raises(PolicyLoadError, match=r"refused calls\."):
        OpaServerEngine(broken, url, timeout=2.0)


def test_an_answer_from_another_bundle_is_refused(bundle: PolicyBundle) -> None:
    fbi = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
    with opa_server() as (other_url, other_state):
        engine = OpaServerEngine(bundle, other_url, timeout=2.0)
        with other_state.lock:
            stamp = other_state.modules[STAMP_ID].replace(bundle.revision, "f" * 64)
            assert (
                other_state.compile({**other_state.modules, STAMP_ID: stamp}, other_state.data)
                is None
            )
        with pytest.raises(PolicyError, match=f"OPA answered with bundle {'f' * 64}"):
            engine.decide(fbi)
        engine.close()


def test_undefined_answer_is_a_denial(bundle: PolicyBundle) -> None:
    with opa_server() as (url, state):
        engine = OpaServerEngine(bundle, url, timeout=2.0)
        with state.lock:
            modules = {k: v for k, v in state.modules.items() if not k.endswith("decision.rego")}
            assert state.compile(modules, state.data) is None
        fbi = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
        with pytest.raises(PolicyError, match="undefined on the OPA server"):
            engine.decide(fbi)
        engine.close()


def test_slow_opa_is_a_decision_timeout_and_never_an_allow(bundle: PolicyBundle) -> None:
    with opa_server() as (url, state):
        engine = OpaServerEngine(bundle, url, timeout=0.3)
        fbi = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
        assert engine.decide(fbi).allow
        state.delay_seconds = 0.6
        with pytest.raises(DecisionTimeoutError, match="OPA did not answer"):
            engine.decide(fbi)
        state.delay_seconds = 0.0
        assert engine.decide(fbi).allow, "a server that recovers serves again"
        engine.close()


def test_unreachable_opa_is_a_denial(bundle: PolicyBundle) -> None:
    with opa_server() as (url, _state):
        engine = OpaServerEngine(bundle, url, timeout=0.5)
    # The server is gone: the port is closed.
    fbi = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
    with pytest.raises(PolicyError, match="OPA failed: ConnectionError"):
        engine.decide(fbi)
    engine.close()


def test_unreachable_opa_cannot_be_loaded(bundle: PolicyBundle) -> None:
    with opa_server() as (url, _state):
        pass
    with pytest.raises(PolicyLoadError, match="cannot push the bundle to OPA"):
        OpaServerEngine(bundle, url, timeout=0.5, push_timeout=0.5)


def test_opa_error_is_a_denial(bundle: PolicyBundle) -> None:
    with opa_server() as (url, _state):
        engine = OpaServerEngine(bundle, url, timeout=2.0)
        fbi = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
        fbi["context"]["now"] = "not a time"  # OPA fails evaluating: HTTP 500
        with pytest.raises(PolicyError, match="OPA failed: HTTPError"):
            engine.decide(fbi)
        engine.close()


def test_requests_beyond_the_pool_still_meet_their_deadline(bundle: PolicyBundle) -> None:
    with opa_server() as (url, state):
        engine = OpaServerEngine(bundle, url, timeout=0.3)
        state.delay_seconds = 0.6
        fbi = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
        outcomes: list[str] = []

        def ask() -> None:
            try:
                engine.decide(fbi)
                outcomes.append("answered")
            except DecisionTimeoutError:
                outcomes.append("timeout")

        threads = [threading.Thread(target=ask) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert outcomes == ["timeout"] * 12
        state.delay_seconds = 0.0
        engine.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8181", ("127.0.0.1", 8181, False)),
        ("https://opa.local", ("opa.local", 443, True)),
        ("http://localhost", ("localhost", 8181, False)),
    ],
)
def test_opa_url(url: str, expected: tuple[str, int, bool]) -> None:
    assert parse_opa_url(url) == expected


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8181", "ftp://opa", "http://opa:99999", "http://opa/v1/data", "http://u@opa"]
)
def test_bad_opa_url_is_a_config_error(url: str) -> None:
    from broker.errors import ConfigError

    with pytest.raises(ConfigError, match="opa_url"):
        parse_opa_url(url)
