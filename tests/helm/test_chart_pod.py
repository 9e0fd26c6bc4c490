"""The pod the chart deploys with the least an operator must configure: its two containers,
how they talk, how Kubernetes probes them, and what they are allowed to do."""

from __future__ import annotations

import tomllib

from tests.helm.chart_rendering import FULLNAME, Manifests

SOCKET = "unix:/run/matcher/matcher.sock"
IMAGE = "biometric-broker:0.1.0"  # repository default + the chart's appVersion


def test_renders_exactly_the_expected_objects(rendered: Manifests) -> None:
    assert rendered.kinds() == sorted(
        [
            "ConfigMap",  # config.toml
            "ConfigMap",  # issuers' JWKS
            "ConfigMap",  # policies
            "Deployment",
            "NetworkPolicy",
            "PersistentVolumeClaim",  # audit
            "PersistentVolumeClaim",  # gallery
            "PodDisruptionBudget",
            "Secret",  # signing key
            "Secret",  # TLS certificate and key
            "Service",
            "ServiceAccount",
        ]
    )


def test_one_replica_replaced_by_recreate(rendered: Manifests) -> None:
    spec = rendered.deployment["spec"]
    assert spec["replicas"] == 1
    # RollingUpdate would briefly run two writers against the audit log volume.
    assert spec["strategy"] == {"type": "Recreate"}


def test_two_containers_from_the_same_image(rendered: Manifests) -> None:
    assert [c["name"] for c in rendered.pod["containers"]] == ["broker", "matcher"]
    for container in rendered.pod["containers"]:
        assert container["image"] == IMAGE
        assert container["imagePullPolicy"] == "IfNotPresent"
    assert "initContainers" not in rendered.pod


def test_container_commands(rendered: Manifests) -> None:
    broker, matcher = rendered.container("broker"), rendered.container("matcher")
    assert broker["command"] + broker["args"] == [
        "broker",
        "serve",
        "--config",
        "/etc/biometric-broker/config.toml",
    ]
    assert matcher["command"] + matcher["args"] == [
        "matcher",
        "serve",
        "--gallery",
        "/var/lib/biometric-broker/gallery",
        "--listen",
        SOCKET,
    ]


def test_broker_exposes_grpc_and_matcher_nothing(rendered: Manifests) -> None:
    assert rendered.container("broker")["ports"] == [
        {"name": "grpc", "containerPort": 50051, "protocol": "TCP"},
        {"name": "health", "containerPort": 8086, "protocol": "TCP"},
    ]
    assert "ports" not in rendered.container("matcher")


def test_the_only_service_reaches_the_broker_port(rendered: Manifests) -> None:
    service = rendered.one("Service")
    assert service["metadata"]["name"] == FULLNAME
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "grpc", "port": 50051, "targetPort": "grpc", "protocol": "TCP"}
    ]
    pod_labels = rendered.deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    # Every target port names or numbers a port of the broker; the matcher has none to offer.
    broker_ports = rendered.container("broker")["ports"]
    targets = {p["name"] for p in broker_ports} | {p["containerPort"] for p in broker_ports}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in targets


def test_matcher_socket_volume_is_shared_and_pod_local(rendered: Manifests) -> None:
    volume = rendered.volume("matcher-socket")
    assert set(volume) == {"name", "emptyDir"}
    for name in ("broker", "matcher"):
        mount = rendered.mounts(name)["/run/matcher"]
        assert mount["name"] == "matcher-socket"
        assert not mount.get("readOnly", False)  # the matcher creates the socket there
    assert f'matcher_address = "{SOCKET}"' in rendered.config_toml().splitlines()


def test_broker_probes_use_native_grpc_health_on_the_plaintext_health_port(
    rendered: Manifests,
) -> None:
    """Kubelet's gRPC probes speak no TLS, so they go to health_listen, not to 50051."""
    broker = rendered.container("broker")
    assert tomllib.loads(rendered.config_toml())["health_listen"] == "0.0.0.0:8086"
    for probe in ("startupProbe", "livenessProbe"):
        assert broker[probe]["grpc"] == {"port": 8086}, probe
    # Ready means the broker service itself is serving, not only the process.
    assert broker["readinessProbe"]["grpc"] == {
        "port": 8086,
        "service": "biometric.broker.v1.BiometricBroker",
    }
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert {"exec", "httpGet", "tcpSocket"}.isdisjoint(broker[probe]), probe


def test_matcher_probes_run_matcher_health_on_the_socket(rendered: Manifests) -> None:
    matcher = rendered.container("matcher")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert matcher[probe]["exec"] == {"command": ["matcher", "health", "--address", SOCKET]}, (
            probe
        )
        assert {"grpc", "httpGet", "tcpSocket"}.isdisjoint(matcher[probe]), probe
    # Loading a large gallery may take minutes: the startup probe allows 5 before a restart.
    startup = matcher["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] == 300


def test_pod_security_context(rendered: Manifests) -> None:
    assert rendered.pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert rendered.pod["automountServiceAccountToken"] is False
    assert rendered.pod["serviceAccountName"] == FULLNAME
    assert rendered.one("ServiceAccount", FULLNAME)["automountServiceAccountToken"] is False


def test_containers_are_locked_down(rendered: Manifests) -> None:
    for container in rendered.pod["containers"]:
        assert container["securityContext"] == {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
        }, container["name"]


def test_each_container_has_its_own_writable_tmp(rendered: Manifests) -> None:
    volumes = {rendered.mounts(name)["/tmp"]["name"] for name in ("broker", "matcher")}
    assert len(volumes) == 2
    for name in volumes:
        assert "emptyDir" in rendered.volume(name)


def test_no_host_access(rendered: Manifests) -> None:
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not rendered.pod.get(key, False)
    assert all("hostPath" not in v for v in rendered.pod["volumes"])


def test_audit_log_volume_only_in_broker(rendered: Manifests) -> None:
    mount = rendered.mounts("broker")["/var/lib/biometric-broker/audit"]
    assert not mount.get("readOnly", False)
    assert rendered.volume(mount["name"])["persistentVolumeClaim"] == {
        "claimName": f"{FULLNAME}-audit"
    }
    assert all(m["name"] != mount["name"] for m in rendered.mounts("matcher").values())


def test_gallery_volume_only_in_matcher(rendered: Manifests) -> None:
    mount = rendered.mounts("matcher")["/var/lib/biometric-broker/gallery"]
    assert not mount.get("readOnly", False)
    assert rendered.volume(mount["name"])["persistentVolumeClaim"] == {
        "claimName": f"{FULLNAME}-gallery"
    }
    assert all(m["name"] != mount["name"] for m in rendered.mounts("broker").values())


def test_claims_are_created_and_kept_on_uninstall(rendered: Manifests) -> None:
    for component in ("audit", "gallery"):
        claim = rendered.one("PersistentVolumeClaim", f"{FULLNAME}-{component}")
        assert claim["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert claim["spec"]["resources"] == {"requests": {"storage": "20Gi"}}
        assert "storageClassName" not in claim["spec"]  # the cluster's default class


def test_matcher_sees_no_broker_secrets_or_config(rendered: Manifests) -> None:
    matcher_volumes = {m["name"] for m in rendered.mounts("matcher").values()}
    assert matcher_volumes == {"gallery", "matcher-socket", "matcher-tmp"}


def test_resources_have_requests_and_limits(rendered: Manifests) -> None:
    for container in rendered.pod["containers"]:
        resources = container["resources"]
        assert set(resources["requests"]) == {"cpu", "memory"}, container["name"]
        assert set(resources["limits"]) == {"cpu", "memory"}, container["name"]


def test_network_policy_admits_nobody_by_default(rendered: Manifests) -> None:
    policy = rendered.one("NetworkPolicy", FULLNAME)["spec"]
    pod_labels = rendered.deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    assert policy["ingress"] == []
    assert "no namespace is allowed yet" in rendered.notes


def test_notes_tell_where_the_broker_is(rendered: Manifests) -> None:
    assert f"{FULLNAME}.agencies.svc:50051" in rendered.notes
    assert "it has no Service" in rendered.notes
