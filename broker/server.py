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
from broker.audit.log import AuditLog, origin_for
from broker.audit.proof_rpc import ProofService
from broker.authn.jwt_verifier import TokenVerifier, TrustedIssuer
from broker.authn.token_cache import VerifiedTokens
from broker.config import BrokerConfig
from broker.errors import AuditError, AuthenticationError
from broker.keys import SigningKey
from broker.limits import RateLimiter
from broker.limits_wire import add_service, maximum_concurrent_rpcs, server_options
from broker.matcher_client import MatcherClient
from broker.models import Principal
from broker.pipeline import Pipeline, Recorded
from broker.policy.reloader import PolicyEvent
from broker.policy.runtime import PolicyRuntime, PolicySettings
from broker.requests import parse_enroll, parse_expunge, parse_identify, parse_verify
from broker.status import maps_errors
from broker.telemetry import Telemetry, from_environment
from broker.tls import TlsFiles, server_credentials

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
        telemetry: Telemetry | None = None,
        *,
        audit_log: AuditLog | None = None,
    ) -> None:
        self._telemetry = telemetry or Telemetry.disabled()
        self._proofs = None if audit_log is None else ProofService(audit_log)
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
        with self._telemetry.step("authentication"):
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

    def _proof_service(self) -> ProofService:
        if self._proofs is None:
            raise AuditError("this broker serves no audit log")
        return self._proofs

    @maps_errors
    def GetCheckpoint(  # noqa: N802 - public: see broker.proto "Audit proofs"
        self, request: broker_pb2.GetCheckpointRequest, context: grpc.ServicerContext
    ) -> broker_pb2.GetCheckpointResponse:
        return self._proof_service().checkpoint(request)

    @maps_errors
    def GetInclusionProof(  # noqa: N802 - public
        self, request: broker_pb2.GetInclusionProofRequest, context: grpc.ServicerContext
    ) -> broker_pb2.GetInclusionProofResponse:
        return self._proof_service().inclusion(request)

    @maps_errors
    def GetConsistencyProof(  # noqa: N802 - public
        self, request: broker_pb2.GetConsistencyProofRequest, context: grpc.ServicerContext
    ) -> broker_pb2.GetConsistencyProofResponse:
        return self._proof_service().consistency(request)


@dataclass
class RunningBroker:
    server: grpc.Server
    port: int
    audit_log: AuditLog
    matcher: MatcherClient
    health: health.HealthServicer
    health_server: grpc.Server | None = None
    telemetry: Telemetry | None = None
    health_port: int = 0
    policy: PolicyRuntime | None = None

    def stop(self, grace: float = 5.0) -> None:
        for service in ("", SERVICE_NAME):
            self.health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.server.stop(grace).wait()
        if self.health_server is not None:
            self.health_server.stop(0).wait()
        if self.policy is not None:  # before the log closes: it records shadow divergences
            self.policy.stop()
        self.matcher.close()
        self.audit_log.close()
        if self.telemetry is not None:
            self.telemetry.shutdown()


def start(
    config: BrokerConfig, *, audit_fsync: Fsync = os.fsync, telemetry: Telemetry | None = None
) -> RunningBroker:
    """Builds every part from a validated config, then starts serving.

    Any part that cannot be built (key, policy bundle, audit log, TLS files) stops start-up:
    the broker never serves without the means to decide and to record. `audit_fsync` lets the
    tests make the disk fail under a running broker; `telemetry` defaults to what the OTEL_*
    environment variables configure."""
    telemetry = telemetry or from_environment(service_instance=config.broker_id)
    audit_fsync = telemetry.timed_fsync(audit_fsync)
    credentials = (
        server_credentials(
            TlsFiles(config.tls_cert_file, config.tls_key_file, config.tls_client_ca_file)
        )
        if config.tls_cert_file is not None and config.tls_key_file is not None
        else None
    )
    key = SigningKey.load_pem(config.signing_key_file)

    def count_policy_load(event: PolicyEvent) -> None:
        if event.role == "active":
            telemetry.record_policy_load(event.event)

    # Loads and checks the bundle (and starts the policy workers); refused: no start.
    policy = PolicyRuntime.load(PolicySettings.from_config(config), listeners=[count_policy_load])
    verifier = TokenVerifier(
        [TrustedIssuer.from_config(i) for i in config.issuers],
        audience=config.audience,
        leeway=config.jwt_leeway_seconds,
        cache=VerifiedTokens(),
    )
    try:
        audit_log = AuditLog.open(
            config.audit_dir,
            key,
            origin=origin_for(config.broker_id),
            checkpoint_every=config.checkpoint_every,
            checkpoint_interval=config.checkpoint_interval_seconds,
            fsync=audit_fsync,
        )
        # Records the "loaded" policy entry, then watches policy_dir for new revisions.
        policy.start(record=lambda kind, body: audit_log.append(kind, lambda _p: body))
    except BaseException:
        policy.stop()
        raise
    matcher = MatcherClient(config.matcher_address, timeout_seconds=config.matcher_timeout_seconds)
    pipeline = Pipeline(
        broker_id=config.broker_id,
        engine_provider=policy.engine,
        key=key,
        audit_log=audit_log,
        matcher=matcher,
        overfetch_factor=config.overfetch_factor,
        telemetry=telemetry,
        rate_limiter=RateLimiter(),
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.max_workers),
        options=server_options(config.max_message_bytes),
        interceptors=telemetry.server_interceptors(),
        maximum_concurrent_rpcs=maximum_concurrent_rpcs(config.max_workers),
    )
    add_service(
        BrokerServicer(verifier, pipeline, key, audit_log.jwks, telemetry, audit_log=audit_log),
        broker_pb2.DESCRIPTOR.services_by_name["BiometricBroker"],
        server,
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    services: Sequence[str] = (
        SERVICE_NAME,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    )
    reflection.enable_server_reflection(services, server)
    if credentials is not None:
        port = server.add_secure_port(config.listen, credentials)
    else:
        port = server.add_insecure_port(config.listen)
    if port == 0 and not config.listen.startswith("unix:"):
        raise OSError(f"cannot listen on {config.listen}")
    health_server = None
    health_port = 0
    if config.health_listen:
        # Kubelet's gRPC probes speak no TLS: health alone, in plaintext, on its own port.
        health_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
        health_port = health_server.add_insecure_port(config.health_listen)
        if health_port == 0 and not config.health_listen.startswith("unix:"):
            raise OSError(f"cannot listen on {config.health_listen}")
        health_server.start()
    server.start()
    for service in ("", SERVICE_NAME):
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "broker %s serving on %s, policy revision %s",
        config.broker_id,
        config.listen,
        policy.revision,
    )
    return RunningBroker(
        server,
        port,
        audit_log,
        matcher,
        health_servicer,
        health_server,
        telemetry,
        health_port,
        policy,
    )
