"""A real matcher server (in-process `serve`) on a Unix socket, called over a real channel."""

from __future__ import annotations

import math
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from biometric.matcher.v1 import matcher_pb2, matcher_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from matcher.config import MatcherConfig
from matcher.errors import ConfigError
from matcher.gallery import Gallery
from matcher.server import RunningMatcher, serve
from tests.matcher.support import NOW, ORIGINS, Population, expected_scores

FACE = matcher_pb2.MODALITY_FACE
FINGERPRINT = matcher_pb2.MODALITY_FINGERPRINT


@dataclass
class Deployment:
    running: RunningMatcher
    stub: Any
    channel: Any
    population: Population
    socket: Path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("grpc")
    population = Population()
    records = [population.make(f"g{i:03d}", ORIGINS[i % 4]) for i in range(200)]
    records += [population.make(f"q{i:03d}", ORIGINS[i % 4], "fingerprint") for i in range(40)]
    Gallery.create(root / "gallery", records=records).close()
    socket = root / "m.sock"
    running = serve(MatcherConfig(gallery_dir=root / "gallery", listen=f"unix:{socket}"))
    channel = grpc.insecure_channel(running.address)
    try:
        yield Deployment(
            running, matcher_pb2_grpc.MatcherStub(channel), channel, population, socket
        )
    finally:
        channel.close()
        running.stop(grace=None)


def _filters(**values: Any) -> Any:
    message = matcher_pb2.SearchFilters(**values)
    if "valid_at" not in values:
        message.valid_at.FromDatetime(NOW)
    return message


def _search(d: Deployment, record_id: str, **values: Any) -> Any:
    request: dict[str, Any] = {
        "modality": FACE,
        "probe": d.population.probe(record_id).tolist(),
        "k": 5,
        "filters": _filters(),
    }
    request.update(values)
    return d.stub.Search(matcher_pb2.SearchRequest(**request), timeout=10)


def _provenance(origin: str = "US") -> Any:
    message = matcher_pb2.Provenance(
        origin_jurisdiction=origin,
        source_agency="us-fbi",
        lineage=["us-fbi"],
        consent_scopes=["criminal_investigation"],
    )
    message.captured_at.FromDatetime(NOW - timedelta(days=30))
    message.retain_until.FromDatetime(NOW + timedelta(days=3000))
    return message


def test_health_reports_serving(deployment: Deployment) -> None:
    health = health_pb2_grpc.HealthStub(deployment.channel)
    for service in ("", "biometric.matcher.v1.Matcher"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_the_socket_is_owner_only(deployment: Deployment) -> None:
    mode = deployment.socket.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600


def test_search_returns_the_mate_first_with_exact_scores(deployment: Deployment) -> None:
    probe = deployment.population.probe("g042")
    reply = deployment.stub.Search(
        matcher_pb2.SearchRequest(modality=FACE, probe=probe.tolist(), k=5, filters=_filters()),
        timeout=10,
    )
    assert [m.record_id for m in reply.matches][:1] == ["g042"]
    assert len(reply.matches) == 5
    scores = [m.score for m in reply.matches]
    assert scores == sorted(scores, reverse=True)
    wire_probe = np.asarray(probe, dtype=np.float32)  # what the server received
    for match in reply.matches:
        template = deployment.population.records[match.record_id].template
        expected = expected_scores(template[None, :], wire_probe)[0]
        assert match.score == pytest.approx(expected, abs=1e-6)
    top = reply.matches[0].provenance
    assert top.origin_jurisdiction == ORIGINS[42 % 4]
    assert top.captured_at.ToDatetime().replace(tzinfo=NOW.tzinfo) == NOW - timedelta(days=365)
    assert not top.HasField("consent_withdrawn_at")
    assert list(reply.partitions_searched) == [
        "face/CL",
        "face/US",
        "face/US-OR",
        "face/US-OR-RIVERTON",
    ]


def test_filters_are_applied_and_excluded_partitions_not_searched(
    deployment: Deployment,
) -> None:
    reply = _search(deployment, "g001", k=200, filters=_filters(exclude_origins=["US-OR", "CL"]))
    assert {m.provenance.origin_jurisdiction for m in reply.matches} == {"US", "US-OR-RIVERTON"}
    assert list(reply.partitions_searched) == ["face/US", "face/US-OR-RIVERTON"]
    assert "g001" not in {m.record_id for m in reply.matches}  # g001 is US-OR


def test_min_score_zero_means_no_threshold_and_others_cut(deployment: Deployment) -> None:
    everything = _search(deployment, "g010", k=1000, min_score=0.0)
    assert len(everything.matches) == 200
    assert min(m.score for m in everything.matches) < 0  # negatives too: no threshold
    strong = _search(deployment, "g010", k=1000, min_score=0.3)
    assert [m.record_id for m in strong.matches] == ["g010"]


def test_compare(deployment: Deployment) -> None:
    probe = deployment.population.probe("q007").tolist()
    found = deployment.stub.Compare(
        matcher_pb2.CompareRequest(
            record_id="q007", modality=FINGERPRINT, probe=probe, filters=_filters()
        ),
        timeout=10,
    )
    assert found.found
    assert 0.4 < found.score < 0.95
    assert found.provenance.origin_jurisdiction == ORIGINS[7 % 4]
    filtered = deployment.stub.Compare(
        matcher_pb2.CompareRequest(
            record_id="q007",
            modality=FINGERPRINT,
            probe=probe,
            filters=_filters(required_consent_scope="immigration_enforcement"),
        ),
        timeout=10,
    )
    assert not filtered.found
    assert not filtered.HasField("provenance")
    missing = deployment.stub.Compare(
        matcher_pb2.CompareRequest(
            record_id="nobody", modality=FINGERPRINT, probe=probe, filters=_filters()
        ),
        timeout=10,
    )
    assert not missing.found


def test_add_is_searchable_when_the_call_returns(deployment: Deployment) -> None:
    population = deployment.population
    identity = population.synthetic.new_identity("face")
    population.identities["added-1"] = identity
    template = population.synthetic.sample(identity)
    reply = deployment.stub.Add(
        matcher_pb2.AddRequest(
            record_id="added-1",
            modality=FACE,
            template=template.tolist(),
            provenance=_provenance("NZ"),
        ),
        timeout=10,
    )
    assert reply.journal_seq == 241
    found = _search(deployment, "added-1", k=1)
    assert [m.record_id for m in found.matches] == ["added-1"]
    assert "face/NZ" in found.partitions_searched
    listed = deployment.stub.ListPartitions(matcher_pb2.ListPartitionsRequest(), timeout=10)
    assert (FACE, "NZ", 1) in [
        (p.modality, p.origin_jurisdiction, p.record_count) for p in listed.partitions
    ]
    with pytest.raises(grpc.RpcError) as caught:
        deployment.stub.Add(
            matcher_pb2.AddRequest(
                record_id="added-1",
                modality=FACE,
                template=template.tolist(),
                provenance=_provenance(),
            ),
            timeout=10,
        )
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "record_id" in caught.value.details()


def test_remove_means_never_returned(deployment: Deployment) -> None:
    probe = deployment.population.probe("g100").tolist()
    reply = deployment.stub.Remove(matcher_pb2.RemoveRequest(record_id="g100"), timeout=10)
    assert reply.removed
    assert reply.journal_seq > 240
    after = _search(deployment, "g100", k=1000)
    assert "g100" not in {m.record_id for m in after.matches}
    compared = deployment.stub.Compare(
        matcher_pb2.CompareRequest(
            record_id="g100", modality=FACE, probe=probe, filters=_filters()
        ),
        timeout=10,
    )
    assert not compared.found
    again = deployment.stub.Remove(matcher_pb2.RemoveRequest(record_id="g100"), timeout=10)
    assert (again.removed, again.journal_seq) == (False, 0)


def test_list_partitions(deployment: Deployment) -> None:
    reply = deployment.stub.ListPartitions(matcher_pb2.ListPartitionsRequest(), timeout=10)
    listed = [(p.modality, p.origin_jurisdiction) for p in reply.partitions]
    assert listed == sorted(listed)
    counts = {(p.modality, p.origin_jurisdiction): p.record_count for p in reply.partitions}
    assert counts[(FINGERPRINT, "CL")] == 10
    assert all(count > 0 for count in counts.values())


def _face_probe(**changes: Any) -> list[float]:
    values = [0.05] * 512
    for index, value in changes.items():
        values[int(index[1:])] = value
    return values


SEARCH_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("unspecified-modality", {"modality": matcher_pb2.MODALITY_UNSPECIFIED}, "modality: "),
    ("unknown-modality", {"modality": 7}, "modality: "),
    ("short-probe", {"probe": [0.1, 0.2, 0.3]}, "probe: expected 512 values for face, got 3"),
    ("nan-probe", {"probe": _face_probe(i3=math.nan)}, "probe: contains NaN or infinite"),
    ("inf-probe", {"probe": _face_probe(i9=math.inf)}, "probe: contains NaN or infinite"),
    ("zero-probe", {"probe": [0.0] * 512}, "probe: the all-zero vector"),
    ("k-zero", {"k": 0}, "k: must be an integer in 1..1000, got 0"),
    ("k-too-big", {"k": 1001}, "k: must be an integer in 1..1000, got 1001"),
    ("min-score-high", {"min_score": 1.5}, "min_score: "),
    ("min-score-nan", {"min_score": math.nan}, "min_score: "),
    ("no-filters", {"filters": None}, "filters.valid_at: required"),
    ("no-valid-at", {"filters": matcher_pb2.SearchFilters()}, "filters.valid_at: required"),
    (
        "bad-origin-filter",
        {"filters": _filters(exclude_origins=["US", "../x"])},
        "filters.exclude_origins[1]: ",
    ),
]


@pytest.mark.parametrize(
    ("changes", "details"), [case[1:] for case in SEARCH_CASES], ids=[c[0] for c in SEARCH_CASES]
)
def test_search_invalid_argument_names_the_field(
    deployment: Deployment, changes: dict[str, Any], details: str
) -> None:
    request: dict[str, Any] = {"modality": FACE, "probe": _face_probe(), "k": 5}
    request["filters"] = _filters()
    request.update(changes)
    if request["filters"] is None:
        del request["filters"]
    with pytest.raises(grpc.RpcError) as caught:
        deployment.stub.Search(matcher_pb2.SearchRequest(**request), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(details)


def _add_request(**changes: Any) -> Any:
    request: dict[str, Any] = {
        "record_id": "valid-id",
        "modality": FACE,
        "template": _face_probe(),
        "provenance": _provenance(),
    }
    request.update(changes)
    if request["provenance"] is None:
        del request["provenance"]
    return matcher_pb2.AddRequest(**request)


def _provenance_without(*names: str) -> Any:
    message = _provenance()
    for name in names:
        message.ClearField(name)
    return message


def _provenance_with(**values: Any) -> Any:
    message = _provenance()
    for name, value in values.items():
        if name in ("captured_at", "retain_until", "consent_withdrawn_at"):
            getattr(message, name).FromDatetime(value)
        else:
            setattr(message, name, value)
    return message


ADD_CASES: list[tuple[str, Any, str]] = [
    ("bad-id-chars", _add_request(record_id="a b"), "record_id: "),
    ("empty-id", _add_request(record_id=""), "record_id: "),
    ("long-id", _add_request(record_id="x" * 129), "record_id: "),
    ("no-modality", _add_request(modality=0), "modality: "),
    ("short-template", _add_request(template=[1.0]), "template: expected 512 values"),
    ("wrong-modality-dim", _add_request(modality=FINGERPRINT), "template: expected 192 values"),
    ("nan-template", _add_request(template=_face_probe(i0=math.nan)), "template: contains NaN"),
    ("zero-template", _add_request(template=[0.0] * 512), "template: the all-zero"),
    ("no-provenance", _add_request(provenance=None), "provenance: required"),
    (
        "no-origin",
        _add_request(provenance=_provenance_without("origin_jurisdiction")),
        "provenance.origin_jurisdiction: required",
    ),
    (
        "no-agency",
        _add_request(provenance=_provenance_without("source_agency")),
        "provenance.source_agency: required",
    ),
    (
        "no-captured-at",
        _add_request(provenance=_provenance_without("captured_at")),
        "provenance.captured_at: required",
    ),
    (
        "no-retain-until",
        _add_request(provenance=_provenance_without("retain_until")),
        "provenance.retain_until: required",
    ),
    (
        "retain-before-capture",
        _add_request(provenance=_provenance_with(retain_until=NOW - timedelta(days=60))),
        "provenance.retain_until: must be after captured_at",
    ),
    (
        "bad-lineage",
        _add_request(provenance=_provenance_with(source_agency="a\tb")),
        "provenance.source_agency: ",
    ),
]


@pytest.mark.parametrize(
    ("request_message", "details"), [c[1:] for c in ADD_CASES], ids=[c[0] for c in ADD_CASES]
)
def test_add_invalid_argument_names_the_field_and_adds_nothing(
    deployment: Deployment, request_message: Any, details: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        deployment.stub.Add(request_message, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(details)
    assert deployment.running.gallery.get("valid-id") is None


def test_compare_and_remove_invalid_arguments(deployment: Deployment) -> None:
    probe = deployment.population.probe("q001").tolist()
    cases = [
        (
            deployment.stub.Compare,
            matcher_pb2.CompareRequest(
                record_id="q001", modality=FACE, probe=probe, filters=_filters()
            ),
            "probe: expected 512 values for face, got 192",
        ),
        (
            deployment.stub.Compare,
            matcher_pb2.CompareRequest(
                record_id="q001",
                modality=FACE,
                probe=deployment.population.probe("g001").tolist(),
                filters=_filters(),
            ),
            "modality: record 'q001' holds a fingerprint template",
        ),
        (
            deployment.stub.Compare,
            matcher_pb2.CompareRequest(record_id="q001", modality=FINGERPRINT, probe=probe),
            "filters.valid_at: required",
        ),
        (
            deployment.stub.Remove,
            matcher_pb2.RemoveRequest(record_id="../../etc/passwd"),
            "record_id: ",
        ),
    ]
    for method, request, details in cases:
        with pytest.raises(grpc.RpcError) as caught:
            method(request, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details().startswith(details)


def test_loopback_tcp_works_and_reports_the_chosen_port(tmp_path: Path) -> None:
    running = serve(
        MatcherConfig(gallery_dir=tmp_path / "g", listen="127.0.0.1:0", unsafe_plaintext_tcp=True)
    )
    try:
        host, port = running.address.rsplit(":", 1)
        assert host == "127.0.0.1"
        assert int(port) > 0
        with grpc.insecure_channel(running.address) as channel:
            reply = matcher_pb2_grpc.MatcherStub(channel).ListPartitions(
                matcher_pb2.ListPartitionsRequest(), timeout=10
            )
        assert list(reply.partitions) == []  # a new, empty gallery was created
    finally:
        running.stop(grace=None)


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0", "192.0.2.1:50051"])
def test_refuses_to_listen_beyond_loopback(tmp_path: Path, listen: str) -> None:
    with pytest.raises(ConfigError, match="refusing"):
        serve(MatcherConfig(gallery_dir=tmp_path / "g", listen=listen))
    assert not (tmp_path / "g").exists()  # refused before anything was created


def test_refuses_a_socket_path_that_is_another_file(tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    with pytest.raises(ConfigError, match="not a socket"):
        serve(MatcherConfig(gallery_dir=tmp_path / "g", listen=f"unix:{target}"))
    assert target.read_text() == "keep me"
    # the gallery opened for the attempt was closed again: it can be opened now
    Gallery.open(tmp_path / "g").close()


def test_stop_releases_the_socket_and_the_gallery(tmp_path: Path) -> None:
    socket = tmp_path / "s.sock"
    running = serve(MatcherConfig(gallery_dir=tmp_path / "g", listen=f"unix:{socket}"))
    assert socket.exists()
    running.stop(grace=None)
    assert running.wait_for_termination(timeout=10)
    assert not socket.exists()
    Gallery.open(tmp_path / "g").close()  # the lock was released


def test_failures_become_fixed_messages_without_details(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = serve(MatcherConfig(gallery_dir=tmp_path / "g", listen=f"unix:{tmp_path}/s.sock"))
    try:
        with grpc.insecure_channel(running.address) as channel:
            stub = matcher_pb2_grpc.MatcherStub(channel)
            request = matcher_pb2.SearchRequest(
                modality=FACE, probe=_face_probe(), k=1, filters=_filters()
            )

            def explode(*_: Any) -> Any:
                raise RuntimeError("secret internal detail /var/lib/x")

            monkeypatch.setattr(running.gallery, "search", explode)
            with pytest.raises(grpc.RpcError) as caught:
                stub.Search(request, timeout=10)
            assert caught.value.code() == grpc.StatusCode.INTERNAL
            assert caught.value.details() == "internal matcher error"
            monkeypatch.undo()

            running.gallery.close()  # storage gone: the gallery refuses every call
            for call, message in (
                (stub.Search, request),
                (stub.ListPartitions, matcher_pb2.ListPartitionsRequest()),
                (stub.Remove, matcher_pb2.RemoveRequest(record_id="r1")),
            ):
                with pytest.raises(grpc.RpcError) as caught:
                    call(message, timeout=10)
                assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
                assert caught.value.details() == "the matcher's gallery is unavailable"
    finally:
        running.stop(grace=None)
