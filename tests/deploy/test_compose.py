"""deploy/docker-compose.yml: structure, and every name and port it uses agrees with the files it points at.

There is no container engine here (`docker compose config` needs the compose plugin, absent), so the file is
parsed with PyYAML and `${VAR:-default}` interpolated to its defaults, as compose would with no .env file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from streaming.settings import TailorSettings
from tests.deploy.deploy_files import DEPLOY, load_yaml_docs, parse_dockerfile

COMPOSE = DEPLOY / "docker-compose.yml"


def interpolate(value: Any) -> Any:
    # ${VAR:-default} -> default; ${VAR:?message} (required) -> "" (compose itself stops when it is unset)
    if isinstance(value, str):
        return re.sub(
            r"\$\{(\w+)(?::([-?])([^}]*))?\}",
            lambda m: (m.group(3) if m.group(2) == "-" else "") or "",
            value,
        )
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    docs = load_yaml_docs(COMPOSE)
    assert len(docs) == 1
    return interpolate(docs[0])  # type: ignore[no-any-return]


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: str(v) for k, v in env.items()}


def volume_sources(service: dict[str, Any]) -> list[tuple[str, str]]:
    return [tuple(v.split(":")[:2]) for v in service.get("volumes", [])]  # type: ignore[misc]


def gpu_reserved(service: dict[str, Any]) -> bool:
    devices = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    return any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)


def test_top_level_shape_and_services(compose: dict[str, Any]) -> None:
    assert set(compose) <= {"name", "services", "volumes", "networks", "configs", "secrets"} | {
        k for k in compose if k.startswith("x-")
    }
    assert set(compose["services"]) == {"kafka", "vllm", "worker", "trainer", "prometheus", "grafana"}
    declared = set(compose.get("volumes", {}))
    for name, svc in compose["services"].items():
        for dep in svc.get("depends_on", []):
            assert dep in compose["services"], f"{name} depends on unknown {dep}"
        for source, _target in volume_sources(svc):
            if source.startswith((".", "/")):
                assert (DEPLOY / source).resolve().exists() or source.startswith("../.cache"), (
                    f"{name}: {source}"
                )
            else:
                assert source in declared, f"{name}: named volume {source} is not declared"


def test_kafka_is_apache_kafka_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = env_of(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in k for k in env)
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) >= TailorSettings.model_fields["max_message_bytes"].default


def test_workers_reach_kafka_serve_metrics_on_all_interfaces_and_scale(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    env = env_of(worker)
    assert env["TAILOR_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["TAILOR_METRICS_HOST"] == "0.0.0.0"
    assert int(worker["deploy"]["replicas"]) >= 1
    assert "ports" not in worker, "published host ports would stop `--scale worker=N`"
    assert "container_name" not in worker
    df = parse_dockerfile(DEPLOY / worker["build"]["context"] / worker["build"]["dockerfile"])
    assert {int(p) for p in worker["expose"]} == df.exposed_ports() == {int(env["TAILOR_METRICS_PORT"])}
    assert worker["command"] == ["up"] and compose["services"]["trainer"]["command"] == ["trainer"]


def test_every_tailor_variable_is_a_real_setting(compose: dict[str, Any]) -> None:
    fields = set(TailorSettings.model_fields)
    for name, svc in compose["services"].items():
        for key in env_of(svc):
            if key.startswith("TAILOR_"):
                assert key.removeprefix("TAILOR_").lower() in fields, f"{name}: {key} is not a Tailor setting"
    env = env_of(compose["services"]["worker"])
    settings = TailorSettings(**{k.removeprefix("TAILOR_").lower(): v for k, v in env.items()})
    assert settings.synth_backend == "vllm" and settings.kafka_bootstrap == "kafka:9092"


def test_vllm_runs_on_a_gpu_with_lora_and_the_workers_point_at_it(compose: dict[str, Any]) -> None:
    vllm = compose["services"]["vllm"]
    assert gpu_reserved(vllm) and gpu_reserved(compose["services"]["trainer"])
    cmd = vllm["command"]
    assert "--enable-lora" in cmd and cmd[cmd.index("--model") + 1] == "/models/base"
    df = parse_dockerfile(DEPLOY / vllm["build"]["context"] / vllm["build"]["dockerfile"])
    port = int(cmd[cmd.index("--port") + 1])
    assert df.exposed_ports() == {port}
    assert any(target == "/models/base" for _s, target in volume_sources(vllm))
    env = env_of(compose["services"]["worker"])
    url = urlparse(env["TAILOR_VLLM_URL"])
    assert (url.hostname, url.port) == ("vllm", port)
    assert cmd[cmd.index("--served-model-name") + 1] == env["TAILOR_VLLM_MODEL"]


def test_prometheus_scrapes_the_services_on_their_ports(compose: dict[str, Any]) -> None:
    prom = compose["services"]["prometheus"]
    mounts = {t: s for s, t in volume_sources(prom)}
    config_path = DEPLOY / mounts["/etc/prometheus/prometheus.yml"]
    config = yaml.safe_load(config_path.read_text())
    for rule_file in config["rule_files"]:
        assert f"/etc/prometheus/{rule_file}" in mounts, (
            f"rule file {rule_file} is not mounted next to the config"
        )
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    services = compose["services"]
    for job, service in (("tailor-worker", "worker"), ("tailor-trainer", "trainer")):
        (sd,) = jobs[job]["dns_sd_configs"]
        assert sd["names"] == [service] and sd["type"] == "A"
        assert sd["port"] == int(env_of(services[service])["TAILOR_METRICS_PORT"])
        assert {int(p) for p in services[service]["expose"]} == {sd["port"]}
    (vllm_target,) = jobs["vllm"]["static_configs"][0]["targets"]
    host, port = vllm_target.split(":")
    assert host == "vllm" and f"127.0.0.1:{port}:{port}" in services["vllm"]["ports"]


def test_grafana_is_provisioned_with_the_datasource_and_dashboard(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = {t: s for s, t in volume_sources(grafana)}
    provisioning = DEPLOY / mounts["/etc/grafana/provisioning"]
    (ds,) = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())["datasources"]
    url = urlparse(ds["url"])
    assert (
        url.hostname == "prometheus"
        and f"127.0.0.1:{url.port}:{url.port}" in compose["services"]["prometheus"]["ports"]
    )
    (provider,) = yaml.safe_load((provisioning / "dashboards/tailor.yml").read_text())["providers"]
    dashboards = Path(mounts[provider["options"]["path"]])
    assert (DEPLOY / dashboards / "tailor.json").is_file()
    dashboard = json.loads((DEPLOY / dashboards / "tailor.json").read_text())
    (var,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert var["query"] == ds["type"] == "prometheus", "the variable offers the provisioned datasource's type"
    assert ds["isDefault"] is True, "the variable starts on the default datasource"


def test_dashboard_picks_its_datasource_from_a_variable() -> None:
    """No hard-coded datasource uid: under kube-prometheus-stack the Prometheus datasource has another uid."""
    dashboard = json.loads((DEPLOY / "grafana/dashboards/tailor.json").read_text())
    (var,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    uids: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("datasource"), dict):
                uids.add(node["datasource"]["uid"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(dashboard["panels"])
    walk([v for v in dashboard["templating"]["list"] if v is not var])
    assert uids == {"${" + var["name"] + "}"}


def test_one_model_store_volume_at_one_path_in_worker_trainer_and_vllm(compose: dict[str, Any]) -> None:
    """Workers hand vLLM an adapter's path in the store: all three must see the same volume at that path."""
    services = compose["services"]
    path = env_of(services["worker"])["TAILOR_MODEL_STORE_URI"]
    assert env_of(services["trainer"])["TAILOR_MODEL_STORE_URI"] == path
    for name in ("worker", "trainer", "vllm"):
        assert ("tailor-model-store", path) in volume_sources(services[name]), name
    assert "tailor-model-store" in compose["volumes"]


def test_only_grafana_is_published_beyond_localhost_and_nothing_is_open(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for port in svc.get("ports", []):
            if name != "grafana":
                assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is published on every interface"
    assert not any(a.startswith("--web.enable-lifecycle") for a in services["prometheus"]["command"])
    grafana = env_of(services["grafana"])
    assert grafana.get("GF_AUTH_ANONYMOUS_ENABLED", "false") == "false"
    # required (${...:?}): the raw file, since interpolation above empties it
    raw = load_yaml_docs(COMPOSE)[0]["services"]
    assert raw["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith(
        "${GRAFANA_ADMIN_PASSWORD:?"
    )


def test_vllm_requires_the_api_key_tailor_sends() -> None:
    raw = load_yaml_docs(COMPOSE)[0]
    cmd = raw["services"]["vllm"]["command"]
    key = cmd[cmd.index("--api-key") + 1]
    assert key.startswith("${VLLM_API_KEY:?")
    assert raw["x-tailor-env"]["TAILOR_VLLM_API_KEY"] == key
    assert raw["services"]["worker"]["environment"]["TAILOR_VLLM_API_KEY"] == key
