"""Rebuild `agents/tasks/worked_examples.json`: one worked example per task family and domain (dev split).

    python -m bench.worked_examples

Per family and domain, the dev case whose reference passes Tailor's validators and fits its own window schema, with
the shortest reference and window prompt together (the reference goes into every prompt of the family and
domain, and the window prompt too with `PromptConfig.worked_example_turns`); ties by case id. A family with
no such reference (its annotations disagree with the anchors on every dev window) gets the rules output
of a dev case instead. Cases that touch a heldout recording (as distractors) are skipped. The window
summary lists the window's first anchors the way prompts do; the prompt is the user turn a prompt of the
example's window has (with the case's intent), shown before the output as a previous exchange.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from agents.tasks.base import SynthesisContext, TaskFamily, TaskSpec, registry
from agents.tasks.base_config import PromptConfig
from agents.tasks.catalog_config import TasksConfig
from agents.tasks.constrained import conforms
from agents.tasks.prompting import anchor_line
from agents.tasks.worked_examples import EXAMPLES_FILE
from bench.case import BenchCase
from bench.split import recording_id
from bench.store import DEFAULT_CASES_DIR, load_cases
from trainer.heldout import HeldoutRecordings

SUMMARY_ANCHORS = 5


def summary(case: BenchCase) -> str:
    a = case.anchors
    cfg = PromptConfig(max_content_chars=40)
    kinds = {"robot": "robot episode", "gui": "GUI trajectory", "video": "video clip"}
    lines = [anchor_line(x, cfg).removeprefix("- ") for x in a.anchors[:SUMMARY_ANCHORS]]
    more = f" +{len(a.anchors) - SUMMARY_ANCHORS} more" if len(a.anchors) > SUMMARY_ANCHORS else ""
    return (
        f"{kinds.get(a.domain, a.domain)}, frames 0-{max(0, a.num_frames - 1)}; anchors: "
        + "; ".join(lines)
        + more
    )


def example_prompt(family: TaskFamily, ctx: SynthesisContext) -> str:
    """The user turn of the family's prompt for the example's own window (the prompt without an example)."""
    bare = registry(
        TasksConfig(prompt=family.prompt_config.model_copy(update={"include_worked_example": False}))
    )
    return bare[family.name].prompt(ctx)[-1].content


def choose(cases: list[BenchCase]) -> dict[str, dict[str, dict[str, str]]]:
    best = pick(cases, from_rules=False)
    missing = [c for c in cases if (c.family, c.domain) not in best]
    chosen = {**best, **pick(missing, from_rules=True)}
    out: dict[str, dict[str, dict[str, str]]] = {}
    for (family, domain), entry in sorted(chosen.items()):
        out.setdefault(family, {})[domain] = entry
    return out


def pick(cases: list[BenchCase], from_rules: bool) -> dict[tuple[str, str], dict[str, str]]:
    """Per family and domain, the shortest valid output (with its window's prompt) that fits its window schema
    (references, or rules outputs)."""
    families = registry()
    held = HeldoutRecordings.load()
    best: dict[tuple[str, str], tuple[int, str, dict[str, str]]] = {}
    for case in cases:
        family = families[case.family]
        if held.holds(case.anchors) or any(held.holds(d) for d in case.distractors):
            continue  # a dev window whose distractors come from heldout recordings would leak their text
        ctx = SynthesisContext(case.anchors, TaskSpec(case.family, text=case.intent), tuple(case.distractors))
        output = family.rule_output(ctx) if from_rules else family.parse(json.dumps(case.reference))
        schema = family.window_schema(ctx)
        if (
            output is None
            or family.validate(ctx, output)
            or (schema is not None and not conforms(output.model_dump(mode="json"), schema))
        ):
            continue
        text = output.model_dump_json()
        rec = recording_id(case.window.source.root, case.window.source.path, case.window.key)
        entry = {
            "case_id": case.case_id,
            "recording": rec,
            "window": summary(case),
            "output": text,
            "source": "rules" if from_rules else "reference",
            "prompt": example_prompt(family, ctx),
        }
        rank = (len(text) + len(entry["prompt"]), case.case_id)
        slot = (case.family, case.domain)
        if slot not in best or rank < best[slot][:2]:
            best[slot] = (*rank, entry)
    return {slot: entry for slot, (_, _, entry) in best.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Rebuild the prompts' worked examples from the dev split.")
    parser.add_argument(
        "--cases", type=Path, default=DEFAULT_CASES_DIR, help="Case set (default: %(default)s)."
    )
    parser.add_argument("--out", type=Path, default=EXAMPLES_FILE, help="Output file (default: %(default)s).")
    args = parser.parse_args(argv)
    chosen = choose(load_cases(args.cases, "dev"))
    args.out.write_text(
        json.dumps(chosen, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(
        f"worked examples written to {args.out}: "
        + ", ".join(f"{k}/{d} <- {v['case_id']}" for k, by in chosen.items() for d, v in by.items())
    )


if __name__ == "__main__":
    main()
