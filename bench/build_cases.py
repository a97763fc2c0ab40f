"""Build the versioned benchmark case set from the real recordings.

    python -m bench.build_cases --out bench/cases/v2/ --heldout-list trainer/heldout_recordings.json

Every case maker (Bridge, UMI, GUI, video) picks its windows, anchors them the way the anchor stage does
and derives reference outputs from the recording's own annotations; the cases are split deterministically
(see `bench.split`: by source recording) and written as JSON (see `bench.store`). The same data gives
byte-identical files. `--heldout-list` also writes the heldout recordings for the trainer, which never trains
on them (`trainer.heldout`).
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
from core.limits_config import LimitsConfig
from trainer.heldout import HeldoutRecording, write_heldout_list

log = logging.getLogger(__name__)

BUILDER = "python -m bench.build_cases --out bench/cases/v2/ --heldout-list trainer/heldout_recordings.json"
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
        ctx = SynthesisContext(
            d.anchors, TaskSpec(d.family, intent_id=d.case_id, text=d.intent), d.distractors
        )
        violations = sorted({v.reason for v in family.validate(ctx, d.reference)})
        out.append(
            BenchCase(
                case_id=d.case_id,
                split=splits[d.case_id],
                domain=d.anchors.domain,
                family=d.family,
                intent=d.intent,
                window=d.window,
                anchors=d.anchors,
                distractors=list(d.distractors),
                reference=d.reference.model_dump(mode="json"),
                derivation=d.derivation,
                reference_violations=violations,
            )
        )
    return sorted(out, key=lambda c: c.case_id)


def heldout_recordings(cases: list[BenchCase]) -> list[HeldoutRecording]:
    """The recordings of the heldout split, as the trainer's list names them."""
    return [HeldoutRecording(c.domain, c.window.key, c.recording_id) for c in cases if c.split == "heldout"]


def build_cases(config: BuildConfig | None = None, heldout_list: Path | None = None) -> list[BenchCase]:
    """Build and write the case set (and the trainer's heldout list when a path is given); returns the cases."""
    cfg = config or BuildConfig()
    cases = finish(draft_cases(cfg), cfg)
    write_cases(cfg.out_dir, cases, version_of(cfg.name, cases, BUILDER))
    if heldout_list is not None:
        write_heldout_list(heldout_list, cfg.name, heldout_recordings(cases))
    return cases


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the Tailor refinement benchmark case set.")
    parser.add_argument(
        "--out", type=Path, default=BuildConfig().out_dir, help="Output folder (default: %(default)s)."
    )
    parser.add_argument(
        "--name", default=BuildConfig().name, help="Case set version name (default: %(default)s)."
    )
    parser.add_argument(
        "--heldout-list",
        type=Path,
        default=None,
        help="Also write the heldout recordings here for the trainer (trainer/heldout_recordings.json).",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cases = build_cases(BuildConfig(out_dir=args.out, name=args.name), args.heldout_list)
    counts = {s: sum(1 for c in cases if c.split == s) for s in ("dev", "heldout")}
    print(f"{len(cases)} cases written to {args.out} ({counts})")


if __name__ == "__main__":
    main()
