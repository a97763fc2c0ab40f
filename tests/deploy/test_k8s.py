"""deploy/k8s: manifests parse, and images, ports, selectors, settings and KEDA's trigger agree with each other,
with the Dockerfiles and with Tailor's settings."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml

from streaming.settings import TailorSettings
from tests.deploy.deploy_files import DEPLOY, load_yaml_docs, parse_dockerfile

K8S = DEPLOY / "k8s"
IMAGES = {"tailor/worker": "worker", "tailor/trainer": "trainer", "tailor/vllm": "vllm"}


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}, "every manifest is listed"
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for doc in load_yaml_docs(K8S / name):
            assert {"apiVersion", "kind", "metadata"} <= set(doc), f"{name}: incomplete object"
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in out, f"duplicate {key}"
            if doc["kind"] != "Namespace":
                assert doc["metadata"].get("namespace") == kustomization["namespace"], f"{key} namespace"
            out[key] = doc
    return out


def config(objects: dict[tuple[str, str], dict[str, Any]]) -> dict[str, str]:
    return objects[("ConfigMap", "tailor-config")]["data"]  # type: ignore[no-any-return]


def containers(objects: dict[tuple[str, str], dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (obj, c)
        for (kind, _n), obj in objects.items()
        if kind == "Deployment"
        for c in obj["spec"]["template"]["spec"]["containers"]
    ]


def test_configmap_keys_are_settings_and_validate(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    data = config(objects)
    fields = set(TailorSettings.model_fields)
    for key in data:
        assert key.startswith("TAILOR_") and key.removeprefix("TAILOR_").lower() in fields, key
    settings = TailorSettings(**{k.removeprefix("TAILOR_").lower(): v for k, v in data.items()})
    assert settings.metrics_host == "0.0.0.0" and settings.log_json


def test_images_ports_and_users_match_the_dockerfiles(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]
    compose_images = {svc["image"] for svc in compose.values() if "build" in svc}
    seen = set()
    for deployment, c in containers(objects):
        repo, tag = c["image"].rsplit(":", 1)
        df = parse_dockerfile(DEPLOY / "docker" / f"{IMAGES[repo]}.Dockerfile")
        seen.add(repo)
        assert c["image"] in compose_images, f"{c['image']}: compose builds a different tag"
        ports = {p["containerPort"] for p in c["ports"]}
        assert ports == df.exposed_ports(), (
            f"{c['image']}: containerPort {ports} vs EXPOSE {df.exposed_ports()}"
        )
        pod = deployment["spec"]["template"]["spec"]
        user = df.last("USER")
        assert user is not None
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert str(pod["securityContext"]["runAsUser"]) == user.split(":")[0]
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        if annotations.get("prometheus.io/scrape") == "true":
            assert int(annotations["prometheus.io/port"]) in ports
        if repo != "tailor/vllm":
            assert {"name": "tailor-config"} in [e["configMapRef"] for e in c["envFrom"]]
            assert c["args"] == df.exec_form("CMD")
            assert str(config(objects)["TAILOR_METRICS_PORT"]) == str(next(iter(ports)))
    assert seen == set(IMAGES)


def test_gpu_deployments(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    for name in ("tailor-vllm", "tailor-trainer"):
        (c,) = objects[("Deployment", name)]["spec"]["template"]["spec"]["containers"]
        assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    (vllm,) = objects[("Deployment", "tailor-vllm")]["spec"]["template"]["spec"]["containers"]
    assert "--enable-lora" in vllm["args"]
    assert vllm["args"][vllm["args"].index("--served-model-name") + 1] == config(objects)["TAILOR_VLLM_MODEL"]
    port = vllm["args"][vllm["args"].index("--port") + 1]
    assert config(objects)["TAILOR_VLLM_URL"] == f"http://tailor-vllm.tailor.svc.cluster.local:{port}"


def test_services_select_pods_and_name_their_ports(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    for (kind, name), svc in objects.items():
        if kind != "Service":
            continue
        selector = svc["spec"]["selector"]
        matched = [
            (d, c)
            for d, c in containers(objects)
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert matched, f"Service {name} selects no pods"
        named = {p["name"]: p["containerPort"] for _d, c in matched for p in c["ports"]}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in named, (
                f"Service {name}: no container port named {port['targetPort']}"
            )
            assert port["port"] == named[port["targetPort"]]
    for (kind, _name), d in objects.items():
        if kind == "Deployment":
            assert (
                d["spec"]["selector"]["matchLabels"].items()
                <= d["spec"]["template"]["metadata"]["labels"].items()
            )


def test_servicemonitor_scrapes_the_worker_and_trainer_metrics_services(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    monitor = objects[("ServiceMonitor", "tailor")]["spec"]
    (endpoint,) = monitor["endpoints"]
    picked = set()
    for (kind, name), svc in objects.items():
        labels = svc["metadata"].get("labels", {})
        if kind != "Service" or not monitor["selector"]["matchLabels"].items() <= labels.items():
            continue
        (expr,) = monitor["selector"]["matchExpressions"]
        if labels.get(expr["key"]) in expr["values"]:
            picked.add(name)
            assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}
    assert picked == {"tailor-worker-metrics", "tailor-trainer-metrics"}


def test_keda_scales_the_workers_on_the_faust_group_lag(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    scaled = objects[("ScaledObject", "tailor-worker")]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    target = scaled["spec"]["scaleTargetRef"]
    assert (target.get("kind", "Deployment"), target["name"]) in objects
    data = config(objects)
    raw_topics = {
        data["TAILOR_TOPIC_RAW_VIDEO"],
        data["TAILOR_TOPIC_RAW_GUI"],
        data["TAILOR_TOPIC_RAW_ROBOT"],
    }
    triggers = scaled["spec"]["triggers"]
    assert {t["type"] for t in triggers} == {"kafka"}
    assert {t["metadata"]["topic"] for t in triggers} == raw_topics
    for t in triggers:
        meta = t["metadata"]
        assert meta["consumerGroup"] == data["TAILOR_APP_ID"]
        assert meta["bootstrapServers"] == data["TAILOR_KAFKA_BOOTSTRAP"]
        assert int(meta["lagThreshold"]) > 0
    assert scaled["spec"]["maxReplicaCount"] <= int(data["TAILOR_PARTITIONS"])


def test_kustomize_renders_the_manifests() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (the YAML checks above still ran)")
    done = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(done.stdout) if d)
    assert kinds.count("Deployment") == 3 and "ScaledObject" in kinds and "ServiceMonitor" in kinds
