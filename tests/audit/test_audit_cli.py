"""`broker audit verify` and `broker keys generate|export`, through their own modules."""

from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path

import pytest

from broker.audit.verify import verify_log
from broker.cli import audit as audit_cli
from broker.cli import keys as keys_cli
from broker.keys import SigningKey, VerifyingKey, parse_jwks
from tests.audit.audit_helpers import fill_log


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="broker")
    commands = parser.add_subparsers(dest="command", required=True)
    audit_cli.register(commands)
    keys_cli.register(commands)
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


def test_verify_ok(tmp_path: Path, key: SigningKey, capsys: pytest.CaptureFixture[str]) -> None:
    fill_log(tmp_path, key, decisions=6)
    root = verify_log(tmp_path).root_hex
    assert run("audit", "verify", str(tmp_path)) == 0
    captured = capsys.readouterr()
    assert captured.out == f"OK: 7 entries, root {root}\ncheckpoint: 7 entries, matches the log\n"
    assert "--jwks" in captured.err  # says what a self-check does not prove


def test_verify_with_trusted_jwks_and_checkpoint(
    tmp_path: Path, key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "log"
    fill_log(log, key, decisions=2)
    jwks = tmp_path / "trusted.json"
    jwks.write_text((log / "keys.jwks.json").read_text())
    checkpoint = tmp_path / "cp"
    checkpoint.write_text((log / "checkpoint").read_text())
    assert (
        run("audit", "verify", str(log), "--jwks", str(jwks), "--checkpoint", str(checkpoint)) == 0
    )
    captured = capsys.readouterr()
    assert captured.out.startswith("OK: 3 entries, root ")
    assert captured.err == ""


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        (lambda d: None, "not a directory"),
        (lambda d: d.mkdir(), "no log file"),
    ],
    ids=["missing-dir", "empty-dir"],
)
def test_verify_fails_cleanly_on_a_non_log(
    tmp_path: Path, setup: object, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "nothing"
    setup(target)  # type: ignore[operator]
    assert run("audit", "verify", str(target)) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL: ")
    assert needle in out


def test_verify_fails_on_unreadable_inputs(
    tmp_path: Path, key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> None:
    fill_log(tmp_path / "log", key, decisions=1)
    assert run("audit", "verify", str(tmp_path / "log"), "--jwks", str(tmp_path / "none")) == 1
    assert "cannot read key set" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text('{"keys": [{"kty": "RSA"}]}')
    assert run("audit", "verify", str(tmp_path / "log"), "--jwks", str(bad)) == 1
    assert "FAIL: " in capsys.readouterr().out
    assert run("audit", "verify", str(tmp_path / "log"), "--checkpoint", str(tmp_path / "x")) == 1
    assert "unreadable" in capsys.readouterr().out


def test_keys_generate_then_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pem = tmp_path / "broker.pem"
    assert run("keys", "generate", "--out", str(pem)) == 0
    kid = capsys.readouterr().out.strip()
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert SigningKey.load_pem(pem).kid == kid
    assert run("keys", "export", "--key", str(pem)) == 0
    jwks = json.loads(capsys.readouterr().out)
    assert list(parse_jwks(jwks)) == [kid]
    assert "d" not in jwks["keys"][0]
    assert VerifyingKey.from_jwk(jwks["keys"][0]).kid == kid


def test_keys_generate_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pem = tmp_path / "broker.pem"
    assert run("keys", "generate", "--out", str(pem)) == 0
    first = capsys.readouterr().out.strip()
    assert run("keys", "generate", "--out", str(pem)) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert SigningKey.load_pem(pem).kid == first
    assert run("keys", "generate", "--out", str(pem), "--force") == 0
    assert SigningKey.load_pem(pem).kid == capsys.readouterr().out.strip() != first


def test_keys_export_of_a_bad_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    assert run("keys", "export", "--key", str(bad)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "not a PEM private key" in captured.err
    assert run("keys", "export", "--key", str(tmp_path / "missing.pem")) == 1
    assert "cannot read" in capsys.readouterr().err
