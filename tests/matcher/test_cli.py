"""The `matcher` command: a real `python -m matcher serve` process, health, gallery tasks."""

from __future__ import annotations

import selectors
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
from biometric.matcher.v1 import matcher_pb2, matcher_pb2_grpc

from matcher.cli import main
from matcher.gallery import Gallery
from tests.matcher.support import NOW

STARTUP_WAIT = 60.0  # a safety net against a hung child, not a timing assertion


def _start(gallery: Path, socket: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "matcher",
            "serve",
            "--gallery",
            str(gallery),
            "--listen",
            f"unix:{socket}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(STARTUP_WAIT):
            process.kill()
            pytest.fail("matcher serve printed nothing")
    line = process.stdout.readline()
    if not line:
        process.wait()
        pytest.fail(f"matcher serve exited: {process.stderr.read() if process.stderr else ''}")
    return process, line


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(STARTUP_WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def _health(address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "matcher", "health", "--address", address, "--timeout", "5"],
        capture_output=True,
        text=True,
        check=False,
        timeout=STARTUP_WAIT,
    )


@pytest.fixture
def generated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code = main(
        [
            "gallery",
            "generate",
            "--out",
            str(tmp_path / "gallery"),
            "--identities",
            "60",
            "--samples",
            "2",
            "--seed",
            "3",
            "--probes",
            str(tmp_path / "probes.npz"),
        ]
    )
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(int(line.split("\t")[1]) for line in lines) == 120
    assert {line.split("\t")[0] for line in lines} <= {
        "face/US",
        "face/US-OR",
        "face/US-OR-RIVERTON",
        "face/CL",
    }
    return tmp_path


def test_serve_as_a_process_search_add_remove_restart(generated: Path) -> None:
    archive = np.load(generated / "probes.npz")
    probes = {"probes": archive["face_probes"], "mates": archive["face_mates"]}
    assert probes["probes"].shape == (60, 512)
    assert probes["mates"].shape == (60, 2)
    socket = generated / "m.sock"
    process, line = _start(generated / "gallery", socket)
    address = f"unix:{socket}"
    try:
        assert line == f"matcher listening on {address}\n"
        health = _health(address)
        assert (health.returncode, health.stdout) == (0, "SERVING\n")
        with grpc.insecure_channel(address) as channel:
            stub = matcher_pb2_grpc.MatcherStub(channel)
            filters = matcher_pb2.SearchFilters()
            filters.valid_at.FromDatetime(NOW.replace(year=2000))  # before any retention ends
            for index in (0, 31, 59):
                reply = stub.Search(
                    matcher_pb2.SearchRequest(
                        modality=matcher_pb2.MODALITY_FACE,
                        probe=probes["probes"][index].tolist(),
                        k=2,
                        filters=filters,
                    ),
                    timeout=10,
                )
                assert {m.record_id for m in reply.matches} == set(probes["mates"][index])
            stub.Remove(matcher_pb2.RemoveRequest(record_id=str(probes["mates"][5][0])), timeout=10)
    finally:
        assert _stop(process) == 0
    assert not socket.exists()
    assert _health(address).returncode == 1  # nothing is serving now

    process, _ = _start(generated / "gallery", socket)
    try:
        with grpc.insecure_channel(address) as channel:
            stub = matcher_pb2_grpc.MatcherStub(channel)
            filters = matcher_pb2.SearchFilters()
            filters.valid_at.FromDatetime(NOW.replace(year=2000))
            reply = stub.Search(
                matcher_pb2.SearchRequest(
                    modality=matcher_pb2.MODALITY_FACE,
                    probe=probes["probes"][5].tolist(),
                    k=2,
                    filters=filters,
                ),
                timeout=10,
            )
            returned = {m.record_id for m in reply.matches}
            assert str(probes["mates"][5][1]) in returned
            assert str(probes["mates"][5][0]) not in returned  # the removal survived
    finally:
        assert _stop(process) == 0


def test_serve_refuses_a_network_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["serve", "--gallery", str(tmp_path / "g"), "--listen", "0.0.0.0:50051"])
    assert code == 1
    assert "refusing '0.0.0.0:50051'" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()


def test_serve_refuses_a_directory_that_is_not_a_gallery(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "data.bin").write_bytes(b"x")
    code = main(["serve", "--gallery", str(tmp_path / "g"), "--listen", f"unix:{tmp_path}/s"])
    assert code == 1
    assert "neither a gallery nor an empty directory" in capsys.readouterr().err


def test_health_fails_when_nothing_listens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["health", "--address", f"unix:{tmp_path}/none.sock", "--timeout", "0.5"])
    assert code == 1
    assert "health check failed" in capsys.readouterr().err


def test_gallery_rebuild(generated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = generated / "gallery"
    with Gallery.open(directory) as gallery:
        gallery.remove("face-0000000-0")
        assert gallery.pending_changes() == 1
        assert main(["gallery", "rebuild", str(directory)]) == 1  # locked by us
        assert "open in another process" in capsys.readouterr().err
    assert main(["gallery", "rebuild", str(directory)]) == 0
    assert sum(int(line.split("\t")[1]) for line in capsys.readouterr().out.splitlines()) == 119
    with Gallery.open(directory) as gallery:
        assert gallery.pending_changes() == 0
        assert gallery.get("face-0000000-0") is None


def test_generate_refuses_an_existing_gallery(
    generated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (generated / "gallery" / "manifest.json").read_bytes()
    code = main(
        [
            "gallery",
            "generate",
            "--out",
            str(generated / "gallery"),
            "--identities",
            "1",
            "--samples",
            "1",
            "--seed",
            "1",
        ]
    )
    assert code == 1
    assert "not an empty directory" in capsys.readouterr().err
    assert (generated / "gallery" / "manifest.json").read_bytes() == before


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(
            [
                "gallery",
                "generate",
                "--out",
                str(tmp_path),
                "--identities",
                "0",
                "--samples",
                "1",
                "--seed",
                "1",
            ]
        )
    assert caught.value.code == 2


def test_generate_both_modalities_with_non_mated_probes_and_show_the_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "gallery"
    code = main(
        [
            "gallery",
            "generate",
            "--out",
            str(directory),
            "--identities",
            "12",
            "--samples",
            "2",
            "--seed",
            "5",
            "--modality",
            "face",
            "--modality",
            "fingerprint",
            "--unenrolled",
            "3",
            "--probes",
            str(tmp_path / "probes.npz"),
        ]
    )
    assert code == 0
    counts = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert {name.split("/")[0] for name, _ in counts} == {"face", "fingerprint"}
    assert sum(int(n) for _, n in counts) == 12 * 2 * 2
    archive = np.load(tmp_path / "probes.npz")
    assert archive["face_probes"].shape == (15, 512)
    assert archive["fingerprint_probes"].shape == (15, 192)
    assert archive["fingerprint_mates"].shape == (15, 2)
    assert list(archive["face_mates"][14]) == ["", ""]  # a non-mated probe
    with Gallery.open(directory) as gallery:
        gallery.remove(str(archive["face_mates"][0][0]))
    assert main(["gallery", "rebuild", str(directory)]) == 0
    capsys.readouterr()
    assert main(["gallery", "history", str(directory)]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == [
        "generation",
        "folded_seq",
        "committed_at",
        "records",
        "expunged",
        "expired",
        "reused",
    ]
    assert [row[0] for row in lines[1:]] == ["1", "2"]
    assert lines[1][1] == "48"
    assert (lines[2][1], lines[2][3], lines[2][4], lines[2][5]) == ("49", "47", "1", "0")
