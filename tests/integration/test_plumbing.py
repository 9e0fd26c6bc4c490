"""Health checking, reflection, signing keys, and the audit log checked by the CLI."""

import subprocess
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from broker.client import Justification


def test_health_reports_serving_for_the_server_and_the_service(env):
    with grpc.insecure_channel(env.broker.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "biometric.broker.v1.BiometricBroker"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_and_describes_the_public_service(env):
    with grpc.insecure_channel(env.broker.address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {"biometric.broker.v1.BiometricBroker", "grpc.health.v1.Health"} <= services
        descriptor = database.FindFileContainingSymbol("biometric.broker.v1.BiometricBroker")
        assert "Identify" in [m.name for m in descriptor.service[0].method]


def test_signing_keys_are_served_without_a_token(env):
    with grpc.insecure_channel(env.broker.address) as channel:
        from biometric.broker.v1 import broker_pb2, broker_pb2_grpc

        reply = broker_pb2_grpc.BiometricBrokerStub(channel).GetSigningKeys(
            broker_pb2.GetSigningKeysRequest(), timeout=5
        )
    assert reply.keys and reply.keys[0].crv == "Ed25519" and reply.keys[0].active
    assert reply.keys[0].kid in reply.jwks_json


def test_broker_audit_verify_accepts_the_live_log(env):
    client = env.client("fbi-investigator")
    client.identify(
        Justification("criminal_investigation", "warrant", "W-3", "C-3"),
        "face",
        env.gallery.probe("us-fbi", 14, "face"),
    )
    result = subprocess.run(
        [sys.executable, "-m", "broker", "audit", "verify", str(env.audit_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK")
