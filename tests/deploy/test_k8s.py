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
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    kinds = sorted(d["kind"] for d in docs)
    assert kinds.count("Deployment") == 3 and "ScaledObject" in kinds and "ServiceMonitor" in kinds
    assert {"PrometheusRule", "PodDisruptionBudget", "NetworkPolicy"} <= set(kinds)
    (dashboard,) = [
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "tailor-grafana-dashboard"
    ]
    assert dashboard["metadata"]["namespace"] == "tailor"
    assert dashboard["data"]["tailor.json"] == (DEPLOY / "grafana/dashboards/tailor.json").read_text()


def pod_spec(objects: dict[tuple[str, str], dict[str, Any]], name: str) -> dict[str, Any]:
    return objects[("Deployment", name)]["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def test_one_persistent_model_store_at_one_path_in_worker_trainer_and_vllm(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """Published weights outlive pods, and the adapter path a worker sends vLLM exists in vLLM's pod too."""
    path = config(objects)["TAILOR_MODEL_STORE_URI"]
    claims = set()
    for name in ("tailor-worker", "tailor-trainer", "tailor-vllm"):
        spec = pod_spec(objects, name)
        (c,) = spec["containers"]
        (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == path]
        (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        assert "persistentVolumeClaim" in volume, f"{name}: {path} is {volume}"
        claims.add(volume["persistentVolumeClaim"]["claimName"])
    (claim,) = claims
    assert objects[("PersistentVolumeClaim", claim)]["spec"]["accessModes"] == ["ReadWriteMany"]


def test_keda_alone_sets_the_worker_count(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    assert "replicas" not in objects[("Deployment", "tailor-worker")]["spec"]
    assert objects[("ScaledObject", "tailor-worker")]["spec"]["scaleTargetRef"]["name"] == "tailor-worker"


def test_worker_liveness_probe_is_the_heartbeat(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    from core.heartbeat import HEALTHZ_PATH

    (c,) = pod_spec(objects, "tailor-worker")["containers"]
    probe = c["livenessProbe"]
    assert probe["httpGet"]["path"] == HEALTHZ_PATH and probe["httpGet"]["port"] == "metrics"
    stale_s = TailorSettings.model_fields["liveness_stale_s"].default
    assert probe["periodSeconds"] * probe["failureThreshold"] > stale_s, "a stale heartbeat is seen in time"


def test_worker_pdb_and_network_policy(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    labels = objects[("Deployment", "tailor-worker")]["spec"]["template"]["metadata"]["labels"]
    pdb = objects[("PodDisruptionBudget", "tailor-worker")]["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items() and pdb["maxUnavailable"] == 1
    policy = objects[("NetworkPolicy", "tailor-worker")]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]


def test_vllm_api_key_comes_from_a_secret_in_vllm_and_tailor(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    (vllm,) = pod_spec(objects, "tailor-vllm")["containers"]
    assert vllm["args"][vllm["args"].index("--api-key") + 1] == "$(VLLM_API_KEY)"
    refs = {}
    for name, c in [("vllm", vllm)] + [
        (n, pod_spec(objects, f"tailor-{n}")["containers"][0]) for n in ("worker", "trainer")
    ]:
        env = {e["name"]: e for e in c["env"]}
        key = "VLLM_API_KEY" if name == "vllm" else "TAILOR_VLLM_API_KEY"
        ref = env[key]["valueFrom"]["secretKeyRef"]
        refs[name] = (ref["name"], ref["key"])
        assert not ref.get("optional"), f"{name}: a missing key must stop the pod, not run without one"
    assert len(set(refs.values())) == 1, refs
    assert "TAILOR_VLLM_API_KEY" not in config(objects)


def test_alerts_match_the_job_the_operator_sets(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    """The ServiceMonitor's jobLabel names the worker job as compose does; the PrometheusRule is alerts.yml."""
    monitor = objects[("ServiceMonitor", "tailor")]["spec"]
    worker_svc = objects[("Service", "tailor-worker-metrics")]["metadata"]["labels"]
    trainer_svc = objects[("Service", "tailor-trainer-metrics")]["metadata"]["labels"]
    assert worker_svc[monitor["jobLabel"]] == "tailor-worker"
    assert trainer_svc[monitor["jobLabel"]] == "tailor-trainer"
    prometheus = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    assert {"tailor-worker", "tailor-trainer"} <= {j["job_name"] for j in prometheus["scrape_configs"]}
    alerts = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
    rule = objects[("PrometheusRule", "tailor")]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == alerts["groups"], "prometheusrule.yaml is a copy of alerts.yml"
    assert (
        rule["metadata"]["labels"]["release"]
        == objects[("ServiceMonitor", "tailor")]["metadata"]["labels"]["release"]
    )
    worker_rules = [r for g in alerts["groups"] for r in g["rules"] if 'job="tailor-worker"' in r["expr"]]
    assert {r["alert"] for r in worker_rules} >= {
        "TailorWorkerDown",
        "TailorWorkersAbsent",
        "TailorWorkersBelowMinimum",
    }
    (below,) = [r for r in worker_rules if r["alert"] == "TailorWorkersBelowMinimum"]
    assert (
        below["expr"]
        .strip()
        .endswith(f"< {objects[('ScaledObject', 'tailor-worker')]['spec']['minReplicaCount']}")
    )


def test_dashboard_configmap_is_the_shipped_dashboard() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (gen,) = kustomization["configMapGenerator"]
    (file,) = gen["files"]
    assert (K8S / file).read_text() == (DEPLOY / "grafana/dashboards/tailor.json").read_text(), (
        "deploy/k8s/grafana/tailor.json must be a copy of deploy/grafana/dashboards/tailor.json"
    )
    assert gen["options"]["labels"]["grafana_dashboard"] == "1"
