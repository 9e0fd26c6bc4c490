"""Hot reload and shadow mode, on real bundles and real engines: a ConfigMap-like mount whose
`..data` link is swapped, the check, the atomic swap, the policy and shadow events."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.canonical import digest
from broker.errors import AuditError, PolicyError
from broker.policy.bundle import PolicyBundle, read_revision
from broker.policy.metrics import MemoryCounter
from broker.policy.pool import IsolatedEngine
from broker.policy.reloader import BundleWatcher, PolicyEvent
from broker.policy.runtime import PolicyRuntime, PolicySettings
from tests.policy.scenario import (
    FBI_INVESTIGATOR,
    HSI_OFFICER,
    POLICIES_DIR,
    identify_input,
)

FBI = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
HSI = identify_input(HSI_OFFICER, "immigration_enforcement", "warrant", "face")


class ConfigMapMount:
    """A directory laid out as kubelet mounts a ConfigMap, updated as kubelet updates it:
    a new timestamped directory, then an atomic swap of the `..data` link."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir()
        self._version = 0
        self.publish(lambda _directory: None)

    def publish(self, edit: Any) -> Path:
        self._version += 1
        version = self.root / f"..2026_06_01_12_00_0{self._version}.000000001"
        shutil.copytree(POLICIES_DIR, version, ignore=shutil.ignore_patterns("examples"))
        edit(version)
        for path in version.iterdir():
            link = self.root / path.name
            if not link.is_symlink():
                link.symlink_to(Path("..data") / path.name)
        staged = self.root / "..data_tmp"
        staged.symlink_to(version.name)
        staged.rename(self.root / "..data")  # rename(2): atomic, as kubelet does it
        return version


def set_cap(purpose: str, cap: int) -> Any:
    def edit(directory: Path) -> None:
        path = directory / "purposes.json"
        purposes = json.loads(path.read_text())
        purposes[purpose]["max_results"] = cap
        path.write_text(json.dumps(purposes))

    return edit


class Recorder:
    """What the broker's audit log would receive: (kind, body)."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, dict[str, Any]]] = []
        self.fail = False

    def __call__(self, kind: str, body: dict[str, Any]) -> None:
        if self.fail:
            raise AuditError("injected: the log cannot record")
        self.entries.append((kind, body))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [body for k, body in self.entries if k == kind]


@pytest.fixture
def mount(tmp_path: Path) -> ConfigMapMount:
    return ConfigMapMount(tmp_path / "policies")


@pytest.fixture
def runtime(mount: ConfigMapMount) -> Iterator[tuple[PolicyRuntime, Recorder]]:
    settings = PolicySettings(policy_dir=mount.root, workers=1, poll_interval=3600)
    runtime = PolicyRuntime.load(settings)
    recorder = Recorder()
    runtime.start(recorder)
    yield runtime, recorder
    runtime.stop()


# --- Hot reload ---


def test_start_records_the_bundle_in_service(
    runtime: tuple[PolicyRuntime, Recorder], bundle: PolicyBundle
) -> None:
    policy, recorder = runtime
    assert recorder.entries == [("policy", {"event": "loaded", "revision": bundle.revision})]
    assert policy.revision == bundle.revision


def test_a_configmap_update_is_checked_recorded_and_swapped_in(
    runtime: tuple[PolicyRuntime, Recorder], mount: ConfigMapMount, bundle: PolicyBundle
) -> None:
    policy, recorder = runtime
    before = policy.engine()
    assert before.decide(FBI).obligations.max_results == 10
    mount.publish(set_cap("criminal_investigation", 3))
    events = policy.poll()
    new_revision = PolicyBundle.load(mount.root).revision
    assert events == [PolicyEvent("loaded", new_revision, "active")]
    assert recorder.of("policy")[-1] == {"event": "loaded", "revision": new_revision}
    assert new_revision != bundle.revision
    after = policy.engine()
    assert after.revision == new_revision
    assert after.decide(FBI).obligations.max_results == 3
    # A request that started before the swap finishes with the engine it started with.
    assert before.revision == bundle.revision
    assert before.decide(FBI).obligations.max_results == 10
    assert policy.poll() == [], "nothing changed since"


def test_a_bundle_that_fails_the_check_is_refused_and_the_old_one_stays(
    runtime: tuple[PolicyRuntime, Recorder], mount: ConfigMapMount, bundle: PolicyBundle
) -> None:
    policy, recorder = runtime

    def break_agencies(directory: Path) -> None:
        (directory / "agencies.json").write_text('{"us-fbi": {"name": "FBI",}}')

    broken = mount.publish(break_agencies)
    events = policy.poll()
    assert len(events) == 1
    assert events[0].event == "refused"
    assert events[0].error is not None and events[0].error.startswith(
        "agencies.json: invalid JSON at line 1"
    )
    assert recorder.of("policy")[-1] == {
        "event": "refused",
        "revision": events[0].revision,
        "error": events[0].error,
    }
    assert policy.revision == bundle.revision
    assert policy.engine().decide(FBI).allow
    assert policy.poll() == [], "a refusal is recorded once"
    (broken / "agencies.json").write_text((POLICIES_DIR / "agencies.json").read_text())
    assert [e.event for e in policy.poll()] == [], "back to the revision in service"
    mount.publish(set_cap("missing_person", 4))
    assert [e.event for e in policy.poll()] == ["loaded"]


def test_a_bundle_whose_answers_are_malformed_is_refused(
    runtime: tuple[PolicyRuntime, Recorder], mount: ConfigMapMount
) -> None:
    policy, _ = runtime

    def leak(directory: Path) -> None:
        path = directory / "decision.rego"
        path.write_text(
            path.read_text().replace(
                '"human_review_required": human_review_required,\n}',
                '"human_review_required": human_review_required,\n\t"share_with_press": true,\n}',
            )
        )

    mount.publish(leak)
    [event] = policy.poll()
    assert event.event == "refused"
    assert "not understood: ['share_with_press']" in (event.error or "")


def test_an_unreadable_mount_is_refused(
    runtime: tuple[PolicyRuntime, Recorder], mount: ConfigMapMount, bundle: PolicyBundle
) -> None:
    policy, recorder = runtime
    (mount.root / "..data").unlink()
    (mount.root / "..data").symlink_to("..gone")
    [event] = policy.poll()
    assert (event.event, event.revision) == ("refused", None)
    assert recorder.of("policy")[-1]["revision"] is None
    assert policy.revision == bundle.revision


def test_nothing_enters_service_that_the_log_does_not_record(
    runtime: tuple[PolicyRuntime, Recorder], mount: ConfigMapMount, bundle: PolicyBundle
) -> None:
    policy, recorder = runtime
    mount.publish(set_cap("criminal_investigation", 3))
    recorder.fail = True
    assert policy.poll() == []
    assert policy.revision == bundle.revision
    recorder.fail = False
    assert [e.event for e in policy.poll()] == ["loaded"]


def test_the_watcher_thread_sees_an_update_on_its_own(mount: ConfigMapMount) -> None:
    recorder = Recorder()
    runtime = PolicyRuntime.load(
        PolicySettings(policy_dir=mount.root, workers=1, poll_interval=0.05)
    )
    runtime.start(recorder)
    try:
        mount.publish(set_cap("criminal_investigation", 3))
        deadline = time.monotonic() + 30
        while len(recorder.of("policy")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [body["event"] for body in recorder.of("policy")] == ["loaded", "loaded"]
        assert runtime.engine().decide(FBI).obligations.max_results == 3
    finally:
        runtime.stop()


def test_a_retired_engine_is_closed_after_its_grace(mount: ConfigMapMount) -> None:
    now = [0.0]
    events: list[PolicyEvent] = []

    def build(bundle: PolicyBundle) -> IsolatedEngine:
        return IsolatedEngine(bundle, workers=1, timeout=5.0)

    watcher = BundleWatcher(
        mount.root, build, events.append, retire_after=60.0, clock=lambda: now[0]
    )
    watcher.load_initial()
    first = watcher.engine()
    assert first is not None
    mount.publish(set_cap("criminal_investigation", 3))
    assert watcher.poll() is not None
    now[0] = 59.0
    watcher.poll()
    assert first.decide(FBI).allow, "still usable during its grace"
    now[0] = 61.0
    watcher.poll()
    with pytest.raises(PolicyError):
        first.decide(FBI)
    watcher.stop()


def test_the_broker_does_not_start_with_a_refused_bundle(policy_copy: Path) -> None:
    (policy_copy / "purposes.json").write_text("[]")
    with pytest.raises(PolicyError, match=r"purposes\.json: \(top level\)"):
        PolicyRuntime.load(PolicySettings(policy_dir=policy_copy, workers=1))


def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="unknown backend 'wasm'"):
        PolicyRuntime(PolicySettings(policy_dir=tmp_path, backend="wasm"))


# --- Shadow mode ---


@pytest.fixture
def shadowed(
    mount: ConfigMapMount, tmp_path: Path
) -> Iterator[tuple[PolicyRuntime, Recorder, ConfigMapMount]]:
    candidate = ConfigMapMount(tmp_path / "candidate")
    candidate.publish(set_cap("criminal_investigation", 3))
    settings = PolicySettings(
        policy_dir=mount.root,
        shadow_policy_dir=candidate.root,
        workers=1,
        poll_interval=3600,
        decision_timeout=2.0,
    )
    runtime = PolicyRuntime.load(settings)
    recorder = Recorder()
    runtime.start(recorder)
    yield runtime, recorder, candidate
    runtime.stop()


def test_shadow_records_every_divergence_and_changes_nothing(
    shadowed: tuple[PolicyRuntime, Recorder, ConfigMapMount], bundle: PolicyBundle
) -> None:
    runtime, recorder, candidate = shadowed
    candidate_revision = PolicyBundle.load(candidate.root).revision
    assert recorder.of("policy") == [
        {"event": "loaded", "revision": bundle.revision},
        {"event": "loaded", "revision": candidate_revision, "role": "shadow"},
    ]
    engine = runtime.engine()
    assert engine.revision == bundle.revision
    assert engine.decide(FBI).obligations.max_results == 10, "the caller gets the active decision"
    assert engine.decide(HSI).allow  # the candidate agrees on this one
    runtime.drain_shadow()
    [entry] = recorder.of("shadow")
    assert entry["active_revision"] == bundle.revision
    assert entry["candidate_revision"] == candidate_revision
    assert entry["input_digest"] == digest(FBI)
    assert entry["differs"] == ["obligations"]
    assert entry["active"]["obligations"]["max_results"] == 10
    assert entry["candidate"]["obligations"]["max_results"] == 3
    assert entry["active"]["allow"] is entry["candidate"]["allow"] is True
    divergences = runtime.metrics.shadow_divergences
    assert isinstance(divergences, MemoryCounter)
    assert divergences.count(kind="obligations") == 1
    evaluations = runtime.metrics.shadow_evaluations
    assert isinstance(evaluations, MemoryCounter)
    assert (evaluations.count(outcome="agrees"), evaluations.count(outcome="differs")) == (1, 1)


def test_shadow_records_a_changed_allow_and_a_candidate_error(
    shadowed: tuple[PolicyRuntime, Recorder, ConfigMapMount],
) -> None:
    runtime, recorder, candidate = shadowed

    def deny_immigration(directory: Path) -> None:
        path = directory / "purposes.json"
        purposes = json.loads(path.read_text())
        purposes["immigration_enforcement"]["legal_bases"] = ["warrant"]
        path.write_text(json.dumps(purposes))

    candidate.publish(deny_immigration)
    assert [(e.event, e.role) for e in runtime.poll()] == [("loaded", "shadow")]
    hsi = identify_input(HSI_OFFICER, "immigration_enforcement", "administrative_warrant", "face")
    assert runtime.engine().decide(hsi).allow
    bad = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
    bad["context"]["now"] = "not a time"
    with pytest.raises(PolicyError):
        runtime.engine().decide(bad)  # both bundles fail alike: no divergence
    runtime.drain_shadow()
    [entry] = recorder.of("shadow")
    assert entry["differs"] == ["allow"]
    assert entry["candidate"] == {
        "allow": False,
        "reasons": ["legal_basis_not_accepted"],
        "obligations": {},
    }


def test_a_refused_shadow_bundle_leaves_the_broker_serving(
    mount: ConfigMapMount, tmp_path: Path, bundle: PolicyBundle
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.rego").write_text("package broker\n\nallow if {\n")
    runtime = PolicyRuntime.load(
        PolicySettings(
            policy_dir=mount.root, shadow_policy_dir=broken, workers=1, poll_interval=3600
        )
    )
    recorder = Recorder()
    runtime.start(recorder)
    try:
        assert recorder.of("policy")[1]["event"] == "refused"
        assert recorder.of("policy")[1]["role"] == "shadow"
        assert recorder.of("policy")[1]["revision"] == read_revision(broken)
        assert "x.rego" in recorder.of("policy")[1]["error"]
        assert runtime.poll() == [], "refused once, not again at every poll"
        assert runtime.engine().decide(FBI).allow
        runtime.drain_shadow()
        assert recorder.of("shadow") == []
        evaluations = runtime.metrics.shadow_evaluations
        assert isinstance(evaluations, MemoryCounter)
        assert evaluations.count(outcome="no_candidate") == 1
    finally:
        runtime.stop()


def test_stopping_finishes_every_queued_comparison(
    shadowed: tuple[PolicyRuntime, Recorder, ConfigMapMount],
) -> None:
    runtime, recorder, _ = shadowed
    engine = runtime.engine()
    for _ in range(20):
        engine.decide(FBI)
    runtime.stop()
    assert len(recorder.of("shadow")) == 20
