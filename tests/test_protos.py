"""The protos are the public contract: generated code must be current, every field documented."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROTOS = sorted((ROOT / "protos").glob("biometric/**/*.proto"))
DECLARATION = re.compile(
    r"^\s*(?:(?:repeated|optional)\s+)?(?:map<[^>]+>|[\w.]+)\s+\w+\s*=\s*\d+"  # fields, enum values
    r"|^\s*rpc\s+\w+"  # methods
)


def test_the_generated_code_is_current():
    result = subprocess.run(
        [sys.executable, str(ROOT / "protos" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, (
        f"run `python protos/generate.py`:\n{result.stdout}{result.stderr}"
    )


@pytest.mark.parametrize("proto", PROTOS, ids=lambda p: p.name)
def test_every_field_enum_value_and_method_is_documented(proto):
    lines = proto.read_text().splitlines()
    undocumented = []
    for n, line in enumerate(lines):
        if DECLARATION.match(line):
            previous = next(
                (lines[i].strip() for i in range(n - 1, -1, -1) if lines[i].strip()), ""
            )
            if not previous.startswith("//"):
                undocumented.append(f"{proto.name}:{n + 1}: {line.strip()}")
    assert not undocumented, "\n".join(undocumented)


@pytest.mark.parametrize("proto", PROTOS, ids=lambda p: p.name)
def test_packages_are_versioned(proto):
    assert re.search(r"^package biometric\.\w+\.v\d+;$", proto.read_text(), re.M)


def test_the_generated_code_imports():
    from biometric.broker.v1 import broker_pb2_grpc
    from biometric.matcher.v1 import matcher_pb2_grpc

    assert broker_pb2_grpc.BiometricBrokerStub
    assert matcher_pb2_grpc.MatcherStub
