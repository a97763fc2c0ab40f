"""Readers for the shipped deployment files: Dockerfiles, PromQL metric names, Prometheus exposition text."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO

DEPLOY = REPO / "deploy"


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert all(isinstance(d, dict) for d in docs), f"{path}: every YAML document must be a mapping"
    return docs


# --- Dockerfiles -----------------------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Dockerfile:
    path: Path
    args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def last(self, keyword: str) -> str | None:
        values = [v for k, v in self.final.instructions if k == keyword]
        return values[-1] if values else None

    def exposed_ports(self) -> set[int]:
        ports: set[int] = set()
        for k, v in self.final.instructions:
            if k == "EXPOSE":
                ports |= {int(p.split("/")[0]) for p in v.split()}
        return ports

    def exec_form(self, keyword: str) -> list[str]:
        value = self.last(keyword)
        assert value is not None, f"{self.path.name}: no {keyword}"
        parsed = json.loads(value)
        assert isinstance(parsed, list) and all(isinstance(x, str) for x in parsed), (
            f"{keyword} must be exec form"
        )
        return parsed

    def copy_sources(self) -> list[str]:
        """Sources of COPY instructions that read the build context (not --from=stage)."""
        out = []
        for stage in self.stages:
            for k, v in stage.instructions:
                if k != "COPY":
                    continue
                words = v.split()
                if any(w.startswith("--from=") for w in words):
                    continue
                paths = [w for w in words if not w.startswith("--")]
                out += paths[:-1]
        return out

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for k, v in self.final.instructions:
            if k == "ENV":
                for m in re.finditer(r'(\w+)=("[^"]*"|\S+)', v):
                    env[m.group(1)] = m.group(2).strip('"')
        return env


_INSTRUCTIONS = {
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
}


def parse_dockerfile(path: Path) -> Dockerfile:
    """Logical lines (continuations joined, comment lines dropped), checked instruction keywords, stages."""
    logical: list[str] = []
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and current):
            continue
        if not line:
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, f"{path.name}: the last instruction ends with a line continuation"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        assert keyword in _INSTRUCTIONS, f"{path.name}: unknown instruction {keyword!r} in {line!r}"
        rest = rest.strip()
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args.setdefault(name, default)
            if not stages:
                continue
        if keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
            continue
        assert stages, f"{path.name}: {keyword} before FROM"
        stages[-1].instructions.append((keyword, rest))
    assert stages, f"{path.name}: no FROM"
    return Dockerfile(path, args, stages)


def dockerignore_allows(ignore_file: Path, source: str) -> bool:
    """Whether an allow-list .dockerignore ('*' then '!path' lines) sends `source` to the build."""
    allowed = [line[1:].rstrip("/") for line in ignore_file.read_text().splitlines() if line.startswith("!")]
    source = source.rstrip("/")
    return any(source == a or source.startswith(a + "/") for a in allowed)


# --- PromQL ----------------------------------------------------------------------------------------------

_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "atan2",
    "inf",
    "nan",
}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers that are not functions, keywords, labels or variables."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\$\{?\w+\}?", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", s):
        if s[m.end() :].lstrip().startswith("(") or m.group(0).lower() in _KEYWORDS:
            continue
        names.add(m.group(0))
    return names


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expression) for every target of every panel (rows' nested panels too) and variable."""
    out: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for p in panels:
            for t in p.get("targets", []):
                out.append((p.get("title", "?"), t["expr"]))
            walk(p.get("panels", []))

    walk(dashboard["panels"])
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        text = query.get("query") if isinstance(query, dict) else query
        if var.get("type") == "query" and text:
            m = re.fullmatch(r"label_values\((\w+)\s*,\s*\w+\)", text.strip())
            assert m, f"variable {var['name']}: unsupported query {text!r}"
            out.append((f"variable {var['name']}", m.group(1)))
    return out


# --- exposition text -------------------------------------------------------------------------------------

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


def scraped_names(text: str) -> tuple[set[str], set[str]]:
    """(names declared by # TYPE with their sample suffixes, names that have at least one sample)."""
    declared: set[str] = set()
    sampled: set[str] = set()
    for family in text_string_to_metric_families(text):
        declared |= {family.name + s for s in _SUFFIXES.get(family.type, ("",))}
        sampled |= {s.name for s in family.samples}
    return declared | sampled, sampled
