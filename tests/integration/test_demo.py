"""`broker demo` as a new user runs it."""

import subprocess
import sys


def test_the_demo_runs_every_step_as_described_and_leaves_its_files(tmp_path):
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "broker", "demo", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "UNEXPECTED" not in result.stdout
    assert "audit log verified" in result.stdout
    assert "DENIED" in result.stdout and "ALLOWED" in result.stdout
    for kept in ("gallery", "audit", "keys", "broker.toml"):
        assert (workdir / kept).exists()

    again = subprocess.run(
        [sys.executable, "-m", "broker", "demo", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, "a second run replaces the first"


def test_the_demo_refuses_to_clobber_a_directory_it_did_not_create(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    result = subprocess.run(
        [sys.executable, "-m", "broker", "demo", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert (tmp_path / "precious.txt").read_text() == "keep me"
