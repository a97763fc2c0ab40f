"""`tailor dataset card`: a Hugging Face dataset card (README.md) beside the Parquet dataset.

The YAML header declares one `configs` entry per task family whose `data_files` glob that family's hive
partition (`task_family=<family>/date=*/part-*.parquet`), so `datasets.load_dataset(DIR, name=family)`
(or the hub repository after `tailor dataset push`) loads one family; the Parquet files carry their
`datasets` features, so key frames decode as images. The body is counted from the rows alone. Every text
that comes from data (intents, recordings, licences, models) is escaped for Markdown tables and HTML,
since the hub renders the card.
"""

from __future__ import annotations

import html
import os
from datetime import UTC, datetime
from pathlib import Path

import yaml

from core.errors import TailorError
from streaming.sinks.card_stats import UNKNOWN_LICENCE, CardStats, collect
from streaming.sinks.layout import DATE_KEY, FAMILY_KEY, PART_SUFFIX, escape_value

CARD_NAME = "README.md"

# Licence texts the recordings carry → Hugging Face licence identifiers (the card's `license` list)
_HF_LICENCES = {
    "cc-by-4.0": "cc-by-4.0",
    "cc-by-3.0": "cc-by-3.0",
    "cc-by-sa-3.0": "cc-by-sa-3.0",
    "cc-by-sa-4.0": "cc-by-sa-4.0",
    "apache-2.0": "apache-2.0",
    "mit": "mit",
    "cc0-1.0": "cc0-1.0",
}


class CardError(TailorError, ValueError):
    """A dataset a card cannot be written for; `reason` is a short label."""


def family_glob(family: str) -> str:
    return f"{FAMILY_KEY}={escape_value(family)}/{DATE_KEY}=*/*{PART_SUFFIX}"


def hf_licences(licences: list[str]) -> list[str]:
    """Hub licence ids of the recordings' licences: the leading SPDX id when the hub knows it, `other`
    for terms it does not, `unknown` for recordings without one."""
    out = set()
    for lic in licences:
        head = lic.split(" ", 1)[0].rstrip(";,").lower()
        out.add("unknown" if lic == UNKNOWN_LICENCE else _HF_LICENCES.get(head, "other"))
    return sorted(out)


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "n>100K"


def metadata(stats: CardStats, name: str) -> dict[str, object]:
    licences = hf_licences(stats.licences)
    meta: dict[str, object] = {
        "pretty_name": name,
        "license": licences[0] if len(licences) == 1 else licences,
        "tags": ["tailor", "synthetic", "multimodal", *sorted(stats.by_domain)],
        "size_categories": [size_category(stats.examples)],
        "configs": [
            {"config_name": family, "data_files": [{"split": "train", "path": family_glob(family)}]}
            for family in sorted(stats.by_family)
        ],
    }
    if "other" in licences:
        meta["license_name"] = "mixed"
        meta["license_details"] = (
            "Each source recording's terms are listed in the card; they apply to its rows."
        )
    return meta


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell rendered as HTML: escaped, one line, no column breaks."""
    flat = " ".join(str(text).split())
    return html.escape(flat[:300], quote=True).replace("|", "&#124;").replace("`", "&#96;")


def table(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _day(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def body(stats: CardStats, name: str) -> list[str]:
    first = min(stats.by_family)
    out = [
        f"# {cell(name)}",
        "",
        f"{stats.examples} examples made by Tailor from real recordings: factual anchors "
        "extracted from each window, an example synthesised under them, kept only if it passed every validator "
        f"and cleared the reward floor. Created {_day(stats.first_created)} to {_day(stats.last_created)}.",
        "",
        "## Load it",
        "",
        "```python",
        "import datasets",
        "",
        f'ds = datasets.load_dataset("PATH_OR_REPO", name="{first}", split="train")  # one config per task family',
        'frames = ds[0]["frames"]  # the key frames the example cites, as PIL images',
        "```",
        "",
        "Chat JSONL for training: `tailor export --format sft|preference|grpo --from DIR --out FILE` "
        "(reads these files alone). Each row carries its prompt (`prompt_json`), its output (`output_json`), "
        "the anchors it cites (`cited_anchors_json`) and all its window's (`window_anchors_json`), key frames "
        "(`frames`, `frame_refs`), source topic and "
        "offsets, model and weights version, reward terms and the validators it passed.",
        "",
        "## Examples by task family and domain",
        "",
        *table(
            ("task family", "domain", "examples"),
            [(f, d, n) for (f, d), n in sorted(stats.by_family_domain.items())],
        ),
        *table(("domain", "examples"), sorted(stats.by_domain.items())),
        "## Intents",
        "",
        *table(
            ("intent id", "request", "examples"), [(i, t, n) for (i, t), n in sorted(stats.intents.items())]
        ),
        "## Models and weights versions",
        "",
        *table(
            ("model", "weights version", "examples"),
            [(m, v, n) for (m, v), n in sorted(stats.models.items())],
        ),
        "## Rewards and acceptance",
        "",
        "Every row here was accepted (rejected candidates go to the `tailor.examples.rejected` topic, not to "
        "this dataset); the reward floor is the r_total an example had to reach.",
        "",
        *table(
            ("reward term", "examples", "mean", "min", "max"),
            [
                (k, r.count, f"{r.mean:.3f}", f"{r.minimum:.3f}", f"{r.maximum:.3f}")
                for k, r in stats.rewards.items()
            ],
        ),
        *table(("reward floor (r_total)", "examples"), sorted(stats.reward_floors.items())),
        *table(("validator passed", "examples"), sorted(stats.validators.items())),
        f"Key frames cited: {stats.frames}; not embedded (reason: count): "
        f"{cell(dict(sorted(stats.frame_errors.items()))) if stats.frame_errors else 'none'}.",
        "",
        "## Source recordings and licences",
        "",
        "Rows inherit the terms of the recording they were made from; check them before redistributing.",
        "",
        *table(
            ("domain", "recording", "licence", "examples"),
            [(d, r, lic, n) for (d, r, lic), n in sorted(stats.recordings.items())],
        ),
    ]
    if stats.old_parts:
        out += [
            f"**{stats.old_parts} part files are of an older sink schema**: `datasets` cannot load a family "
            "whose files have different columns; `tailor dataset upgrade DIR` rewrites them.",
            "",
        ]
    if UNKNOWN_LICENCE in stats.licences:
        out += ["**Some recordings have no recorded licence** (`tailor replay --licence` sets one).", ""]
    return out


def render_card(stats: CardStats, name: str) -> str:
    if stats.examples == 0:
        raise CardError("empty_dataset", "the dataset has no examples; nothing to describe")
    header = yaml.safe_dump(metadata(stats, name), sort_keys=False, allow_unicode=True)
    return "---\n" + header + "---\n\n" + "\n".join(body(stats, name)) + "\n"


def write_card(root: Path, name: str | None = None) -> Path:
    """Write `root/README.md` (atomically: a reader never sees half a card) and return its path."""
    text = render_card(collect(root), name or root.resolve().name)
    path = root / CARD_NAME
    tmp = root / f".{CARD_NAME}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
