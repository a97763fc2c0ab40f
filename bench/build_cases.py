"""Build the versioned benchmark case set from the real recordings.

    python -m bench.build_cases --out bench/cases/v1/

Every case maker (Bridge, UMI, GUI, video) picks its windows, anchors them the way the anchor stage does
and derives reference outputs from the recording's own annotations; the cases are split deterministically
(see `bench.split`) and written as JSON (see `bench.store`). The same data gives byte-identical files.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from agents.tasks.base import SynthesisContext, TaskSpec, registry
from bench.build_config import BuildConfig
from bench.case import BenchCase
from bench.references.base import CaseMaker, DraftCase
from bench.references.bridge import BridgeCases
from bench.references.gui import GuiCases
from bench.references.umi import UmiCases
from bench.references.video import VideoCases
from bench.split import split_cases
from bench.store import version_of, write_cases
from bench.windows import RecordCache, WindowAnchorer
from streaming.limits_config import LimitsConfig

log = logging.getLogger(__name__)

BUILDER = "python -m bench.build_cases --out bench/cases/v1/"
MAKERS: tuple[type[CaseMaker], ...] = (BridgeCases, UmiCases, GuiCases, VideoCases)


def draft_cases(config: BuildConfig) -> list[DraftCase]:
    anchorer = WindowAnchorer(config, RecordCache(config, LimitsConfig()))
    drafts: list[DraftCase] = []
    for maker in MAKERS:
        started = time.perf_counter()
        made = maker(anchorer).cases()
        log.info("%s: %d cases in %.1fs", maker.__name__, len(made), time.perf_counter() - started)
        drafts.extend(made)
    return drafts


def finish(drafts: list[DraftCase], config: BuildConfig) -> list[BenchCase]:
    """Drafts → cases: the split, and the validator labels Tailor puts on each reference (diagnostic)."""
    families = registry()
    splits = split_cases(drafts, config.heldout_fraction, config.split_salt)
    out = []
    for d in drafts:
        family = families[d.family]
        ctx = SynthesisContext(d.anchors, TaskSpec(d.family, intent_id=d.case_id, text=d.intent), d.distractors)
        violations = sorted({v.reason for v in family.validate(ctx, d.reference)})
        out.append(BenchCase(
            case_id=d.case_id, split=splits[d.case_id], domain=d.anchors.domain, family=d.family, intent=d.intent,
            window=d.window, anchors=d.anchors, distractors=list(d.distractors),
            reference=d.reference.model_dump(mode="json"), derivation=d.derivation, reference_violations=violations,
        ))
    return sorted(out, key=lambda c: c.case_id)


def build_cases(config: BuildConfig | None = None) -> list[BenchCase]:
    """Build and write the case set; returns the cases."""
    cfg = config or BuildConfig()
    cases = finish(draft_cases(cfg), cfg)
    write_cases(cfg.out_dir, cases, version_of(cfg.name, cases, BUILDER))
    return cases


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the Tailor refinement benchmark case set.")
    parser.add_argument("--out", type=Path, default=BuildConfig().out_dir, help="Output folder (default: %(default)s).")
    parser.add_argument("--name", default="v1", help="Case set version name (default: %(default)s).")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cases = build_cases(BuildConfig(out_dir=args.out, name=args.name))
    counts = {s: sum(1 for c in cases if c.split == s) for s in ("dev", "heldout")}
    print(f"{len(cases)} cases written to {args.out} ({counts})")


if __name__ == "__main__":
    main()
