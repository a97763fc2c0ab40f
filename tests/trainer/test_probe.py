"""The downstream probe on real SmolLM2 and real Bridge windows: a grounded example aligns with the held-out
references, a corrupted copy and prose do not; results come back as example_utility feedback."""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path

import pytest

from agents.tasks.base import SynthesisContext, TaskFamily, TaskSpec
from core.records import AnchorSet
from tests.trainer.conftest import PROSE, rule_text
from trainer.feedback import FeedbackLedger
from trainer.probe import GradientProbe, ProbeError, ProbeItem
from trainer.probe_config import ProbeConfig

log = logging.getLogger(__name__)


def item(family: TaskFamily, window: AnchorSet, ex_id: str, output: str | None = None) -> ProbeItem:
    ctx = SynthesisContext(window, TaskSpec(family.name))
    prompt = [{"role": m.role, "content": m.content} for m in family.prompt(ctx)]
    return ProbeItem(ex_id, prompt, output if output is not None else rule_text(family, window))


def corrupted(text: str) -> str:
    chars = list(text)
    random.Random(0).shuffle(chars)
    return "".join(chars)


@pytest.mark.slow
def test_probe_tells_a_good_example_from_corrupted_ones(
    smol_dir: Path, family: TaskFamily, bridge_windows: list[AnchorSet]
) -> None:
    w0 = bridge_windows[0]
    good = item(family, w0, "good")
    examples = [good, item(family, w0, "shuffled", corrupted(good.output)), item(family, w0, "prose", PROSE)]
    heldout = [item(family, w, f"ref-{i}") for i, w in enumerate(bridge_windows[1:4], 1)]
    report = GradientProbe(smol_dir, ProbeConfig(checkpoints=1, max_length=768)).measure(
        examples, heldout, family.name
    )
    u = report.utilities
    log.warning(
        "probe utilities %s, losses %s, held-out loss %.3f, %.1fs",
        {k: round(v, 3) for k, v in u.items()},
        {k: round(v, 3) for k, v in report.losses.items()},
        report.heldout_loss,
        report.seconds,
    )
    assert all(math.isfinite(v) and -1.0 <= v <= 1.0 for v in u.values())
    assert u["good"] > 0.5 > max(u["shuffled"], u["prose"])
    assert report.losses["shuffled"] > report.losses["good"]
    records = report.feedback()
    assert [(r.kind, r.source, r.example_ids) for r in records] == [
        ("example_utility", "probe", ["good"]),
        ("example_utility", "probe", ["shuffled"]),
        ("example_utility", "probe", ["prose"]),
    ]
    ledger = FeedbackLedger()
    assert ledger.add_all(records) == []
    assert ledger.utility("good") == pytest.approx(u["good"])


def test_leave_one_out_and_checkpoints_on_a_tiny_student(
    tiny_model_dir: Path, family: TaskFamily, bridge_windows: list[AnchorSet]
) -> None:
    examples = [item(family, w, f"e{i}") for i, w in enumerate(bridge_windows[:3])]
    cfg = ProbeConfig(checkpoints=2, steps_between=1, learning_rate=0.05, max_length=768)
    report = GradientProbe(tiny_model_dir, cfg).measure(examples)  # held-out = the other examples
    assert set(report.utilities) == {"e0", "e1", "e2"} and len(report.per_checkpoint) == 2
    assert report.per_checkpoint[0] != report.per_checkpoint[1]  # the student trained between checkpoints
    for ex_id, value in report.utilities.items():
        mean = sum(c[ex_id] for c in report.per_checkpoint) / 2
        assert value == pytest.approx(mean) and math.isfinite(value)


def test_bad_probe_inputs_are_refused(
    tiny_model_dir: Path, family: TaskFamily, bridge_windows: list[AnchorSet]
) -> None:
    probe = GradientProbe(tiny_model_dir, ProbeConfig(checkpoints=1))
    one = item(family, bridge_windows[0], "a")
    cases = [
        ([], None, "no_examples"),
        ([one], None, "no_heldout"),
        ([one, one], None, "duplicate_ids"),
        ([one, ProbeItem("b", one.prompt, "  ")], None, "empty_item"),
    ]
    for examples, heldout, reason in cases:
        with pytest.raises(ProbeError) as err:
            probe.measure(examples, heldout)
        assert err.value.reason == reason
