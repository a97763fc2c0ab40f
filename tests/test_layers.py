"""The one-way layers: a module never imports a higher layer (lazy imports inside functions included),
and the top-level packages have no import cycle.

  0 core      shared contract (records, blob store, dead letters, limits, metrics, media probes)
  1 agents, trainer
  2 streaming Faust stages, windows, sinks, broker, Kafka clients, runtime
  3 app, bench
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"core": 0, "agents": 1, "trainer": 1, "streaming": 2, "app": 3, "bench": 3}


def _module(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports() -> list[tuple[str, int, str, str]]:
    """(file, line, importing package, imported dotted name) for every import of a layered package."""
    out = []
    for pkg in LAYERS:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            mod = _module(path)
            is_pkg = path.name == "__init__.py"
            for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
                if isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    if node.level:
                        base = mod if is_pkg else mod[:-1]
                        base = base[: len(base) - (node.level - 1)]
                        targets = [".".join(base + ([node.module] if node.module else []))]
                    else:
                        targets = [node.module or ""]
                else:
                    continue
                for t in targets:
                    if t.split(".")[0] in LAYERS:
                        out.append((str(path.relative_to(ROOT)), node.lineno, pkg, t))
    return out


IMPORTS = _imports()


def test_no_module_imports_a_higher_layer() -> None:
    bad = [
        f"{f}:{line}: {pkg} (layer {LAYERS[pkg]}) imports {t} (layer {LAYERS[t.split('.')[0]]})"
        for f, line, pkg, t in IMPORTS
        if LAYERS[t.split(".")[0]] > LAYERS[pkg]
    ]
    assert not bad, "imports of a higher layer:\n" + "\n".join(bad)


def test_no_cycle_between_top_level_packages() -> None:
    edges: dict[str, dict[str, str]] = {p: {} for p in LAYERS}
    for f, line, pkg, t in IMPORTS:
        top = t.split(".")[0]
        if top != pkg:
            edges[pkg].setdefault(top, f"{f}:{line}: imports {t}")

    def reach(a: str) -> set[str]:
        seen, todo = set(), [a]
        while todo:
            for b in edges[todo.pop()]:
                if b not in seen:
                    seen.add(b)
                    todo.append(b)
        return seen

    cycles = sorted({f"{a} <-> {b}: {edges[a][b]}" for a in LAYERS for b in edges[a] if a in reach(b)})
    assert not cycles, "import cycles between top-level packages:\n" + "\n".join(cycles)


def test_every_first_party_import_resolves() -> None:
    """mypy runs with ignore_missing_imports, so a stale `streaming.x` left after a move would pass it."""

    def exists(dotted: str) -> bool:
        p = ROOT.joinpath(*dotted.split("."))
        return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()

    bad = [f"{f}:{line}: imports {t}" for f, line, _pkg, t in IMPORTS if not exists(t)]
    assert not bad, "imports of modules that do not exist:\n" + "\n".join(bad)


def test_every_package_is_layered() -> None:
    assert all((ROOT / p / "__init__.py").is_file() for p in LAYERS)
