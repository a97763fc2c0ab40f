"""Summary tables printed at the end of `tailor demo`."""

from __future__ import annotations

from collections import Counter, defaultdict

from rich.console import Console
from rich.table import Table

from core.records import AnchorSet, Example, RejectedExample


def render_anchor_summary(anchor_sets: list[AnchorSet]) -> None:
    table = Table(title="Anchors (tailor.anchors)")
    for col in ("domain", "windows", "frames", "key frames", "anchors by type"):
        table.add_column(col)
    for domain in ("robot", "gui", "video"):
        sets = [a for a in anchor_sets if a.domain == domain]
        counts = Counter(anchor.type for a in sets for anchor in a.anchors)
        table.add_row(
            domain,
            str(len(sets)),
            str(sum(a.num_frames for a in sets)),
            str(sum(len(a.key_frames) for a in sets)),
            ", ".join(f"{t}={n}" for t, n in sorted(counts.items())),
        )
    Console(width=160).print(table)


def render_example_summary(
    examples: list[Example], rejected: list[RejectedExample], parquet_dir: str
) -> None:
    families = sorted({e.task_family for e in examples} | {r.task_family for r in rejected})
    table = Table(title=f"Examples by task family (Parquet: {parquet_dir})")
    for col in (
        "task family",
        "produced",
        "rejected",
        "rejection reasons",
        "R_format",
        "R_anchor",
        "R_eff",
        "R",
    ):
        table.add_column(col)
    terms: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for e in examples:
        for k, v in e.rewards.items():
            terms[e.task_family][k].append(v)
    for r in rejected:
        for k, v in r.rewards.items():
            terms[r.task_family][k].append(v)
    for fam in families:
        prod = sum(1 for e in examples if e.task_family == fam)
        rej = [r for r in rejected if r.task_family == fam]
        reasons = Counter(reason for r in rej for reason in r.reasons)

        def mean(term: str, fam: str = fam) -> str:
            vals = terms[fam].get(term, [])
            return f"{sum(vals) / len(vals):.2f}" if vals else "-"

        table.add_row(
            fam,
            str(prod),
            str(len(rej)),
            ", ".join(f"{k}={n}" for k, n in reasons.most_common(4)),
            mean("r_format"),
            mean("r_anchor"),
            mean("r_eff"),
            mean("r_total"),
        )
    Console(width=160).print(table)
