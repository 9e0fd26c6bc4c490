"""The policy layer inside a real broker: gRPC, the real matcher over the demo gallery, the
real audit log. Hot reload, the decision deadline, shadow mode and the `opa` backend, each
seen the way an agency and an auditor see them: responses, receipts, log entries."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from broker import server
from broker.authn.dev_issuer import DevIssuer
from broker.client import BrokerClient, DeniedError, Justification
from broker.config import BrokerConfig
from broker.demo.environment import AUDIENCE, PRINCIPALS, write_config
from broker.demo.gallery import DemoGallery, build_demo_gallery
from broker.errors import PolicyLoadError
from broker.policy.bundle import PolicyBundle
from broker.policy.metrics import MemoryCounter
from matcher.config import MatcherConfig
from matcher.server import serve as serve_matcher
from tests.integration.audit_reading import entries, receipt_claims
from tests.policy.opa_server import opa_server
from tests.policy.scenario import POLICIES_DIR, SLOW_MODULE, slow_bundle

WARRANT = Justification("criminal_investigation", "warrant", "W-2026-7", "CASE-7")
ADMIN_WARRANT = Justification("immigration_enforcement", "administrative_warrant", "I-1", "HSI-1")


@dataclass
class Matcher:
    socket: Path
    gallery: DemoGallery


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matcher]:
    root = tmp_path_factory.mktemp("matcher")
    gallery = build_demo_gallery(root / "gallery")
    socket = root / "matcher.sock"
    running = serve_matcher(MatcherConfig(root / "gallery", f"unix:{socket}"))
    yield Matcher(socket, gallery)
    running.stop(None)


@dataclass
class Broker:
    running: server.RunningBroker
    issuer: DevIssuer
    audit_dir: Path
    channel: grpc.Channel

    def client(self, who: str) -> BrokerClient:
        return BrokerClient(
            self.channel, lambda: self.issuer.mint(PRINCIPALS[who], audience=AUDIENCE)
        )

    def log(self, kind: str) -> list[dict[str, Any]]:
        return [e["body"] for e in entries(self.audit_dir) if e["kind"] == kind]


@pytest.fixture
def start(tmp_path: Path, matcher: Matcher) -> Iterator[Any]:
    brokers: list[Broker] = []

    def start_broker(policy_dir: Path, **overrides: Any) -> Broker:
        workdir = tmp_path / f"broker-{len(brokers)}"
        workdir.mkdir()
        issuer = DevIssuer.create()
        path = write_config(
            workdir, policy_dir=policy_dir, matcher_socket=matcher.socket, issuer=issuer
        )
        config = BrokerConfig.load(
            path, env={}, overrides={"policy_poll_seconds": 3600, **overrides}
        )
        running = server.start(config)
        broker = Broker(
            running, issuer, workdir / "audit", grpc.insecure_channel(f"127.0.0.1:{running.port}")
        )
        brokers.append(broker)
        return broker

    yield start_broker
    for broker in brokers:
        broker.channel.close()
        broker.running.stop(grace=0)


def mounted(root: Path, source: Path = POLICIES_DIR) -> Path:
    """`source` laid out as a ConfigMap mount (files linked through `..data`)."""
    version = root / "..v1"
    shutil.copytree(source, version, ignore=shutil.ignore_patterns("examples"))
    for path in version.iterdir():
        (root / path.name).symlink_to(Path("..data") / path.name)
    (root / "..data").symlink_to(version.name)
    return root


def publish(root: Path, name: str, edit: Any) -> None:
    """A ConfigMap update: a new version beside the old, then the `..data` swap."""
    version = root / name
    shutil.copytree((root / "..data").resolve(), version)
    edit(version)
    (root / "..tmp").symlink_to(version.name)
    (root / "..tmp").rename(root / "..data")


def cap_criminal_investigation(cap: int) -> Any:
    def edit(directory: Path) -> None:
        path = directory / "purposes.json"
        purposes = json.loads(path.read_text())
        purposes["criminal_investigation"]["max_results"] = cap
        path.write_text(json.dumps(purposes))

    return edit


def test_hot_reload_and_every_receipt_names_the_revision_that_decided_it(
    start: Any, matcher: Matcher, tmp_path: Path, bundle: PolicyBundle
) -> None:
    root = mounted(tmp_path / "policies")
    broker = start(root)
    policy = broker.running.policy
    probe = matcher.gallery.probe("us-fbi", 12, "face")
    fbi = broker.client("fbi-investigator")

    first = receipt_claims(fbi.identify(WARRANT, "face", probe).decision_receipt.jws)
    assert first["policy_revision"] == bundle.revision
    assert first["obligations"]["max_results"] == 10
    assert broker.log("policy") == [{"event": "loaded", "revision": bundle.revision}]

    publish(root, "..v2", cap_criminal_investigation(3))
    [event] = policy.poll()
    second = fbi.identify(WARRANT, "face", probe)
    claims = receipt_claims(second.decision_receipt.jws)
    assert claims["policy_revision"] == event.revision != bundle.revision
    assert claims["obligations"]["max_results"] == 3
    assert len(second.candidates) <= 3
    logged = entries(broker.audit_dir)
    loaded_at = next(
        e["seq"] for e in logged if e["body"] == {"event": "loaded", "revision": event.revision}
    )
    assert loaded_at < second.decision_receipt.log_seq

    def break_schema(directory: Path) -> None:
        path = directory / "agreements.json"
        agreements = json.loads(path.read_text())
        agreements["us-cl-pcsc"]["max_results"] = "five"
        path.write_text(json.dumps(agreements))

    publish(root, "..v3", break_schema)
    [refusal] = policy.poll()
    assert broker.log("policy")[-1] == {
        "event": "refused",
        "revision": refusal.revision,
        "error": "agreements.json: us-cl-pcsc/max_results: 'five' is not of type 'integer'",
    }
    third = receipt_claims(fbi.identify(WARRANT, "face", probe).decision_receipt.jws)
    assert third["policy_revision"] == event.revision, "the refused bundle never decided"


def test_the_broker_watches_its_policy_directory_by_itself(
    start: Any, matcher: Matcher, tmp_path: Path
) -> None:
    root = mounted(tmp_path / "policies")
    broker = start(root, policy_poll_seconds=0.1)
    publish(root, "..v2", cap_criminal_investigation(4))
    deadline = time.monotonic() + 30
    while len(broker.log("policy")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [body["event"] for body in broker.log("policy")] == ["loaded", "loaded"]
    response = broker.client("fbi-investigator").identify(
        WARRANT, "face", matcher.gallery.probe("us-fbi", 12, "face")
    )
    assert receipt_claims(response.decision_receipt.jws)["obligations"]["max_results"] == 4


def test_a_looping_policy_is_denied_at_the_deadline_and_the_broker_keeps_serving(
    start: Any, matcher: Matcher, tmp_path: Path
) -> None:
    shutil.copytree(POLICIES_DIR, tmp_path / "slow", ignore=shutil.ignore_patterns("examples"))
    broker = start(slow_bundle(tmp_path / "slow"), decision_timeout_seconds=0.5, policy_workers=2)
    assert "numbers.range(1, 20000)" in SLOW_MODULE
    fbi = broker.client("fbi-investigator")
    probe = matcher.gallery.probe("us-fbi", 12, "face")
    looping = Justification("criminal_investigation", "warrant", "W-1", "loop")
    with pytest.raises(DeniedError) as denied:
        fbi.identify(looping, "face", probe)
    assert denied.value.reasons == [
        ("decision_timeout", "the policy did not decide within the deadline; denied")
    ]
    claims = receipt_claims(denied.value.details.receipt.jws)
    assert claims["decision"] == "deny"
    assert claims["reasons"][0]["code"] == "decision_timeout"
    # The very next request is served: by the other worker, while the stuck one is replaced.
    response = fbi.identify(WARRANT, "face", probe)
    assert response.candidates[0].record_id.startswith("us-fbi:p012:face:")
    timeouts = broker.running.policy.metrics.decision_timeouts
    assert isinstance(timeouts, MemoryCounter)
    assert timeouts.count(document="broker.decision") == 1


def test_shadow_mode_records_divergences_and_the_caller_gets_the_active_decision(
    start: Any, matcher: Matcher, tmp_path: Path, bundle: PolicyBundle
) -> None:
    candidate = tmp_path / "candidate"
    shutil.copytree(POLICIES_DIR, candidate, ignore=shutil.ignore_patterns("examples"))
    cap_criminal_investigation(2)(candidate)
    candidate_revision = PolicyBundle.load(candidate).revision
    broker = start(POLICIES_DIR, shadow_policy_dir=str(candidate))
    fbi_probe = matcher.gallery.probe("us-fbi", 12, "face")
    fbi = broker.client("fbi-investigator").identify(WARRANT, "face", fbi_probe, max_results=10)
    hsi = broker.client("hsi-officer").identify(ADMIN_WARRANT, "face", fbi_probe)
    claims = receipt_claims(fbi.decision_receipt.jws)
    assert claims["obligations"]["max_results"] == 10
    assert claims["policy_revision"] == bundle.revision
    assert hsi.decision_receipt.jws
    broker.running.policy.drain_shadow()
    [divergence] = broker.log("shadow")
    assert divergence["active_revision"] == bundle.revision
    assert divergence["candidate_revision"] == candidate_revision
    assert divergence["input_digest"] == claims["input_digest"]
    assert divergence["differs"] == ["obligations"]
    assert divergence["active"]["obligations"]["max_results"] == 10
    assert divergence["candidate"]["obligations"]["max_results"] == 2
    assert {"event": "loaded", "revision": candidate_revision, "role": "shadow"} in broker.log(
        "policy"
    )


def test_the_opa_backend_serves_the_broker_and_fails_closed(
    start: Any, matcher: Matcher, bundle: PolicyBundle
) -> None:
    probe = matcher.gallery.probe("us-fbi", 12, "face")
    with opa_server() as (url, state):
        broker = start(
            POLICIES_DIR, policy_backend="opa", opa_url=url, decision_timeout_seconds=2.0
        )
        fbi = broker.client("fbi-investigator")
        response = fbi.identify(WARRANT, "face", probe)
        assert response.candidates[0].record_id.startswith("us-fbi:p012:face:")
        assert receipt_claims(response.decision_receipt.jws)["policy_revision"] == bundle.revision
        assert state.requests["POST data"] >= 2  # the decision and the release
    # The OPA server is gone.
    with pytest.raises(DeniedError) as denied:
        fbi.identify(WARRANT, "face", probe)
    assert [code for code, _ in denied.value.reasons] == ["policy_error"]


def test_the_broker_refuses_to_start_with_a_bundle_that_fails_the_check(
    tmp_path: Path, matcher: Matcher
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, policies, ignore=shutil.ignore_patterns("examples"))
    decision = policies / "decision.rego"
    decision.write_text(
        decision.read_text().replace('"obligations": {}}', '"obligations": {"max_results": 1}}')
    )
    path = write_config(
        tmp_path, policy_dir=policies, matcher_socket=matcher.socket, issuer=DevIssuer.create()
    )
    with pytest.raises(PolicyLoadError, match="a denial must oblige nothing"):
        server.start(BrokerConfig.load(path, env={}))
    assert not (tmp_path / "audit").exists() or not entries(tmp_path / "audit")


def test_the_offence_reaches_the_policy_through_the_api(start: Any, matcher: Matcher) -> None:
    broker = start(POLICIES_DIR)
    fbi = broker.client("fbi-investigator")
    probe = matcher.gallery.probe("us-fbi", 12, "face")
    named = Justification("criminal_investigation", "warrant", "W-8", "CASE-8", "armed_robbery")
    response = fbi.identify(named, "face", probe)
    assert receipt_claims(response.decision_receipt.jws)["decision"] == "allow"
    unknown = Justification("criminal_investigation", "warrant", "W-8", "CASE-8", "jaywalking")
    with pytest.raises(DeniedError) as denied:
        fbi.identify(unknown, "face", probe)
    assert denied.value.reasons == [("unknown_offence", "offence jaywalking is not known")]
