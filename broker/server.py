"""gRPC wiring: the BiometricBroker servicer, health checking, reflection, start and stop.

Protobuf classes stop here: the servicer parses requests into broker/requests.py records,
calls the pipeline, and builds responses.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from biometric.broker.v1 import broker_pb2, broker_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from broker.audit.durable import Fsync
from broker.audit.log import AuditLog
from broker.authn.jwt_verifier import TokenVerifier, TrustedIssuer
from broker.config import BrokerConfig
from broker.errors import AuthenticationError
from broker.keys import SigningKey
from broker.matcher_client import MatcherClient
from broker.models import Principal
from broker.pipeline import Pipeline, Recorded
from broker.policy.bundle import PolicyBundle
from broker.policy.embedded import EmbeddedEngine
from broker.policy.engine import PolicyEngine
from broker.requests import parse_enroll, parse_expunge, parse_identify, parse_verify
from broker.status import maps_errors

log = logging.getLogger(__name__)
SERVICE_NAME = broker_pb2.DESCRIPTOR.services_by_name["BiometricBroker"].full_name


def _receipt(recorded: Recorded) -> broker_pb2.Receipt:
    return broker_pb2.Receipt(jws=recorded.receipt_jws, log_seq=recorded.log_seq)


class BrokerServicer(broker_pb2_grpc.BiometricBrokerServicer):  # type: ignore[misc]
    def __init__(
        self,
        verifier: TokenVerifier,
        pipeline: Pipeline,
        key: SigningKey,
        jwks: Callable[[], dict[str, Any]],
    ) -> None:
        self._verifier = verifier
        self._pipeline = pipeline
        self._key = key
        self._jwks = jwks  # every key that ever signed this log, newest first

    def _principal(self, context: grpc.ServicerContext) -> Principal:
        values = [v for k, v in context.invocation_metadata() if k == "authorization"]
        if len(values) != 1 or not isinstance(values[0], str):
            raise AuthenticationError("exactly one 'authorization: Bearer <token>' is required")
        scheme, _, token = values[0].partition(" ")
        if scheme.lower() != "bearer":
            raise AuthenticationError("authorization scheme must be Bearer")
        return self._verifier.verify(token.strip())

    @maps_errors
    def Identify(  # noqa: N802 - gRPC method names are the proto's
        self, request: broker_pb2.IdentifyRequest, context: grpc.ServicerContext
    ) -> broker_pb2.IdentifyResponse:
        principal = self._principal(context)
        result = self._pipeline.identify(principal, parse_identify(request))
        return broker_pb2.IdentifyResponse(
            candidates=[
                broker_pb2.Candidate(
                    record_id=c.record_id,
                    score=c.score,
                    origin_jurisdiction=c.provenance.origin_jurisdiction,
                    source_agency=c.provenance.source_agency,
                )
                for c in result.released.candidates
            ],
            decision_receipt=_receipt(result.recorded),
            outcome_log_seq=result.outcome_seq,
            withheld=result.released.withheld,
            human_review_required=result.recorded.decision.obligations.human_review_required,
        )

    @maps_errors
    def Verify(  # noqa: N802
        self, request: broker_pb2.VerifyRequest, context: grpc.ServicerContext
    ) -> broker_pb2.VerifyResponse:
        principal = self._principal(context)
        result = self._pipeline.verify(principal, parse_verify(request))
        return broker_pb2.VerifyResponse(
            match=result.match,
            score=result.candidate.score if result.candidate else 0.0,
            released=result.candidate is not None,
            decision_receipt=_receipt(result.recorded),
            outcome_log_seq=result.outcome_seq,
        )

    @maps_errors
    def Enroll(  # noqa: N802
        self, request: broker_pb2.EnrollRequest, context: grpc.ServicerContext
    ) -> broker_pb2.EnrollResponse:
        principal = self._principal(context)
        command = parse_enroll(request)
        result = self._pipeline.enroll(principal, command)
        return broker_pb2.EnrollResponse(
            record_id=command.record_id,
            decision_receipt=_receipt(result.recorded),
            outcome_log_seq=result.outcome_seq,
        )

    @maps_errors
    def Expunge(  # noqa: N802
        self, request: broker_pb2.ExpungeRequest, context: grpc.ServicerContext
    ) -> broker_pb2.ExpungeResponse:
        principal = self._principal(context)
        result = self._pipeline.expunge(principal, parse_expunge(request))
        return broker_pb2.ExpungeResponse(
            removed=result.changed,
            decision_receipt=_receipt(result.recorded),
            outcome_log_seq=result.outcome_seq,
        )

    @maps_errors
    def GetSigningKeys(  # noqa: N802
        self, request: broker_pb2.GetSigningKeysRequest, context: grpc.ServicerContext
    ) -> broker_pb2.GetSigningKeysResponse:
        jwks = self._jwks()
        return broker_pb2.GetSigningKeysResponse(
            keys=[
                broker_pb2.SigningKey(
                    kid=jwk["kid"],
                    kty=jwk["kty"],
                    crv=jwk["crv"],
                    x=jwk["x"],
                    alg=jwk.get("alg", "EdDSA"),
                    active=jwk["kid"] == self._key.kid,
                )
                for jwk in jwks["keys"]
            ],
            jwks_json=json.dumps(jwks, sort_keys=True),
        )


@dataclass
class RunningBroker:
    server: grpc.Server
    port: int
    audit_log: AuditLog
    matcher: MatcherClient
    health: health.HealthServicer

    def stop(self, grace: float = 5.0) -> None:
        for service in ("", SERVICE_NAME):
            self.health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.server.stop(grace).wait()
        self.matcher.close()
        self.audit_log.close()


def start(config: BrokerConfig, *, audit_fsync: Fsync = os.fsync) -> RunningBroker:
    """Builds every part from a validated config, then starts serving.

    Any part that cannot be built (key, policy bundle, audit log) stops start-up: the broker
    never serves without the means to decide and to record. `audit_fsync` lets the tests make
    the disk fail under a running broker."""
    key = SigningKey.load_pem(config.signing_key_file)
    bundle = PolicyBundle.load(config.policy_dir)
    engine: PolicyEngine = EmbeddedEngine(bundle)
    verifier = TokenVerifier(
        [TrustedIssuer.from_config(i) for i in config.issuers],
        audience=config.audience,
        leeway=config.jwt_leeway_seconds,
    )
    audit_log = AuditLog.open(
        config.audit_dir,
        key,
        origin=f"{config.broker_id}/audit",
        checkpoint_every=config.checkpoint_every,
        fsync=audit_fsync,
    )
    audit_log.append("policy", lambda _p: {"event": "loaded", "revision": bundle.revision})
    matcher = MatcherClient(config.matcher_address, timeout_seconds=config.matcher_timeout_seconds)
    pipeline = Pipeline(
        broker_id=config.broker_id,
        engine_provider=lambda: engine,
        key=key,
        audit_log=audit_log,
        matcher=matcher,
        overfetch_factor=config.overfetch_factor,
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.max_workers),
        options=[
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
        ],
    )
    broker_pb2_grpc.add_BiometricBrokerServicer_to_server(
        BrokerServicer(verifier, pipeline, key, audit_log.jwks), server
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    services: Sequence[str] = (
        SERVICE_NAME,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    )
    reflection.enable_server_reflection(services, server)
    port = server.add_insecure_port(config.listen)
    if port == 0 and not config.listen.startswith("unix:"):
        raise OSError(f"cannot listen on {config.listen}")
    server.start()
    for service in ("", SERVICE_NAME):
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "broker %s serving on %s, policy revision %s",
        config.broker_id,
        config.listen,
        bundle.revision,
    )
    return RunningBroker(server, port, audit_log, matcher, health_servicer)
