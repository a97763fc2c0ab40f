"""The shipped Prometheus config and alert rules, checked with promtool and run for real against `tailor up`."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from core.ports import free_port
from streaming.replay.runner import replay
from streaming.replay.runner_config import ReplayConfig
from streaming.settings import TailorSettings
from tests.conftest import WorkerProcess
from tests.deploy.conftest import PrometheusTools
from tests.deploy.deploy_files import DEPLOY, dashboard_queries

PROM = DEPLOY / "prometheus"


def promtool(tools: PrometheusTools, *args: str, cwd: Path = PROM) -> str:
    done = subprocess.run([str(tools.promtool), *args], capture_output=True, text=True, timeout=120, cwd=cwd)
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_shipped_config_and_rules_pass_promtool(prometheus_tools: PrometheusTools) -> None:
    out = promtool(prometheus_tools, "check", "config", "prometheus.yml")
    assert "SUCCESS" in out and "1 rule files found" in out
    assert "SUCCESS: 7 rules found" in promtool(prometheus_tools, "check", "rules", "alerts.yml")


def test_alert_rules_unit_tests(prometheus_tools: PrometheusTools) -> None:
    assert "SUCCESS" in promtool(prometheus_tools, "test", "rules", "alerts_test.yml")


def test_config_from_shipped_targets(prometheus_tools: PrometheusTools, tmp_path: Path) -> None:
    """The substitution below keeps the config valid, and a broken one is caught (promtool really checks)."""
    good = local_config(PROM / "prometheus.yml", "127.0.0.1:9464")
    (tmp_path / "ok.yml").write_text(yaml.safe_dump(good))
    promtool(prometheus_tools, "check", "config", "ok.yml", cwd=tmp_path)
    bad = dict(good, rule_files=[str(tmp_path / "missing.yml")])
    (tmp_path / "bad.yml").write_text(yaml.safe_dump(bad))
    done = subprocess.run(
        [str(prometheus_tools.promtool), "check", "config", "bad.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0


def local_config(shipped: Path, target: str, interval: str | None = None) -> dict[str, Any]:
    """The shipped config with the worker job pointed at `target` (DNS discovery replaced by a static target),
    rule files made absolute, the jobs with no counterpart here (trainer, vLLM, Prometheus) left out."""
    config = yaml.safe_load(shipped.read_text())
    config["rule_files"] = [str((shipped.parent / r).resolve()) for r in config["rule_files"]]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "tailor-worker"]
    (sd,) = job.pop("dns_sd_configs")
    assert sd["port"] == int(target.rsplit(":", 1)[1]) or interval is not None
    job["static_configs"] = [{"targets": [target]}]
    config["scrape_configs"] = [job]
    if interval is not None:
        config["global"].update(
            scrape_interval=interval, scrape_timeout=interval, evaluation_interval=interval
        )
    return config


def api(port: int, path: str, **params: str) -> Any:
    url = f"http://127.0.0.1:{port}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "success", body
    return body["data"]


def wait_for(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (urllib.error.URLError, OSError):
            last = None
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last answer: {last!r}")


def test_real_prometheus_scrapes_the_worker_with_the_shipped_config(
    prometheus_tools: PrometheusTools,
    settings: TailorSettings,
    worker: WorkerProcess,
    shared_dir: Path,
    tmp_path: Path,
) -> None:
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(
        yaml.safe_dump(local_config(PROM / "prometheus.yml", f"127.0.0.1:{worker.metrics_port}", "1s"))
    )
    promtool(prometheus_tools, "check", "config", str(config_path), cwd=tmp_path)
    port = free_port()
    log_path = tmp_path / "prometheus.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                str(prometheus_tools.prometheus),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=log,
            cwd=tmp_path,
        )
    try:
        wait_for(lambda: api(port, "status/buildinfo"), 60, "Prometheus to answer")
        up = wait_for(lambda: api(port, "query", query="tailor_up")["result"], 60, "tailor_up in Prometheus")
        (series,) = up
        assert series["metric"]["job"] == "tailor-worker"
        assert series["metric"]["instance"] == f"127.0.0.1:{worker.metrics_port}"
        assert series["value"][1] == "1"

        replay(settings, ReplayConfig(paths=[shared_dir / "data/gui/aitw"], rate=0, progress=False))
        query = f'tailor_records_in_total{{topic="{settings.topic_raw_gui}"}} >= 4'
        wait_for(
            lambda: api(port, "query", query=query)["result"], 90, "the replayed GUI steps to be counted"
        )

        (target,) = api(port, "targets")["activeTargets"]
        assert target["health"] == "up" and target["labels"]["job"] == "tailor-worker"
        groups = api(port, "rules")["groups"]
        assert {r["name"] for g in groups for r in g["rules"]} == {
            "TailorConsumerLagGrowing",
            "TailorDeadLetterRateHigh",
            "TailorSynthesisErrors",
            "TailorTrainerGateRefusing",
            "TailorWorkerDown",
            "TailorWorkersAbsent",
            "TailorWorkersBelowMinimum",
        }
        assert all(r["health"] != "err" for g in groups for r in g["rules"]), groups
        # the live worker is seen under the job the worker alerts match: no "absent" alert
        (absent,) = [r for g in groups for r in g["rules"] if r["name"] == "TailorWorkersAbsent"]
        assert absent["state"] == "inactive", absent

        # every dashboard query is valid PromQL for this Prometheus, with Grafana's variables filled in
        dashboard = json.loads((DEPLOY / "grafana/dashboards/tailor.json").read_text())
        for title, expr in dashboard_queries(dashboard):
            promql = expr.replace("$__rate_interval", "1m").replace("$instance", ".*")
            api(port, "query", query=promql)  # asserts status success
            if title == "Workers up":
                (workers,) = api(port, "query", query=promql)["result"]
                assert workers["value"][1] == "1"
        rate = f'sum by (topic) (rate(tailor_records_in_total{{topic="{settings.topic_raw_gui}"}}[1m]))'
        wait_for(lambda: api(port, "query", query=rate)["result"], 30, "data for the records-in panel query")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
