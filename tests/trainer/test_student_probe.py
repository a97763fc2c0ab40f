"""The downstream student probe on real SmolLM2 and real Bridge episodes: a student trained on grounded
examples does better on other recordings' references than one trained on wrong examples; batches are
measured from the same base student; held-out items of the batch's recordings are never scored."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agents.tasks.base import SynthesisContext, TaskFamily, TaskSpec
from core.records import AnchorSet
from tests.trainer.conftest import PROSE, rule_text, shifted_text
from trainer.feedback import FeedbackLedger
from trainer.probe import ProbeError
from trainer.student_probe import StudentItem, StudentProbe
from trainer.student_probe_config import StudentProbeConfig

log = logging.getLogger(__name__)


def item(family: TaskFamily, window: AnchorSet, ex_id: str, output: str | None = None) -> StudentItem:
    ctx = SynthesisContext(window, TaskSpec(family.name))
    prompt = [{"role": m.role, "content": m.content} for m in family.prompt(ctx)]
    return StudentItem(
        ex_id,
        prompt,
        output if output is not None else rule_text(family, window),
        f"{window.domain}:{window.key}",
    )


@pytest.mark.slow
def test_grounded_batches_help_the_student_more_than_wrong_ones(
    smol_dir: Path, family: TaskFamily, bridge_windows: list[AnchorSet]
) -> None:
    train, other = bridge_windows[:2], bridge_windows[2:5]
    heldout = [item(family, w, f"ref-{i}") for i, w in enumerate(other)]
    batches = {
        "grounded": [item(family, w, f"good-{i}") for i, w in enumerate(train)],
        "shifted": [item(family, w, f"shifted-{i}", shifted_text(family, w)) for i, w in enumerate(train)],
        "swapped": [
            item(family, w, f"swapped-{i}", rule_text(family, train[1 - i])) for i, w in enumerate(train)
        ],
        "prose": [item(family, w, f"prose-{i}", PROSE) for i, w in enumerate(train)],
    }
    probe = StudentProbe(smol_dir, StudentProbeConfig(max_length=768))
    found = {name: probe.measure_batch(batch, heldout) for name, batch in batches.items()}
    log.warning(
        "student probe: %s",
        {
            k: (
                round(m.loss_before, 3),
                round(m.loss_after, 3),
                round(m.accuracy_before, 3),
                round(m.accuracy_after, 3),
                round(m.seconds, 1),
            )
            for k, m in found.items()
        },
    )
    assert len({m.loss_before for m in found.values()}) == 1  # every batch starts from the same base student
    good = found["grounded"].loss_drop
    assert good > 0
    assert good > max(found[k].loss_drop for k in ("shifted", "swapped", "prose"))
    assert found["grounded"].accuracy_after > found["prose"].accuracy_after


def test_batches_feedback_and_the_recording_split(
    tiny_model_dir: Path, family: TaskFamily, bridge_windows: list[AnchorSet]
) -> None:
    examples = [item(family, w, f"e{i}") for i, w in enumerate(bridge_windows[:3])]
    same_recording = item(family, bridge_windows[0], "ref-same")
    cfg = StudentProbeConfig(batch_size=2, steps=1, learning_rate=0.01, max_length=512)
    probe = StudentProbe(tiny_model_dir, cfg)
    measured = probe.measure(examples, [same_recording, item(family, bridge_windows[4], "ref-other")])
    assert sorted(i for m in measured for i in m.example_ids) == ["e0", "e1", "e2"]
    assert [len(m.example_ids) for m in measured] == [2, 1]
    with_e0 = next(m for m in measured if "e0" in m.example_ids)
    assert with_e0.heldout_items == 1  # the reference of e0's recording is not scored for e0's batch
    assert with_e0.loss_after != with_e0.loss_before  # the student trained
    records = [m.feedback(cfg, created_at=1.0) for m in measured]
    assert all(r.kind == "batch_metric" and r.metric == "heldout_loss_drop" for r in records)
    ledger = FeedbackLedger()
    assert ledger.add_all(records) == []
    assert ledger.utility("e0") == pytest.approx(with_e0.loss_drop)
    with pytest.raises(ProbeError) as err:  # nothing held out from another recording
        probe.measure_batch(examples[:1], [same_recording])
    assert err.value.reason == "no_heldout"
    with pytest.raises(ProbeError) as err:
        probe.measure([examples[0], examples[0]], [same_recording])
    assert err.value.reason == "duplicate_ids"
