"""No heldout recording of the benchmark ever reaches training: a round on real Bridge windows (some from
heldout episodes) trains, and nothing it trained on comes from a heldout recording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer.heldout import HELDOUT_FILE, HeldoutListError, HeldoutRecordings
from trainer.preferences import CandidateGroup
from trainer.round import run_round
from trainer.round_config import RoundConfig
from trainer.store import ModelStore
from trainer.train_config import LoraSettings, TrainConfig

FAST = {"max_steps": 1, "gradient_accumulation_steps": 1, "max_length": 1024, "learning_rate": 1e-2}


def test_the_list_names_recordings_by_domain_and_stream_key() -> None:
    listed = HeldoutRecordings.load()
    assert listed.recordings and all(r.recording.endswith("#" + r.key) for r in listed.recordings)
    assert {r.domain for r in listed.recordings} == {"robot", "gui", "video"}


def test_a_replayed_round_of_a_heldout_recording_is_still_heldout(groups: list[CandidateGroup]) -> None:
    """`tailor replay --loop` and the demo's second pass suffix keys with -rN: same recording, still held out."""
    heldout = HeldoutRecordings.load()
    held = next(g.ctx.anchors for g in groups if heldout.holds(g.ctx.anchors))
    kept = next(g.ctx.anchors for g in groups if not heldout.holds(g.ctx.anchors))
    assert heldout.holds(held.model_copy(update={"key": held.key + "-r1"}))
    assert heldout.holds(held.model_copy(update={"key": held.key + "-r12"}))
    assert not heldout.holds(kept.model_copy(update={"key": kept.key + "-r1"}))
    assert not heldout.holds(held.model_copy(update={"key": held.key + "-rerun"}))


def test_a_round_never_trains_on_a_heldout_recording(
    tiny_model_dir: Path, groups: list[CandidateGroup], tmp_path: Path
) -> None:
    heldout = HeldoutRecordings.load()
    held = [g for g in groups if heldout.holds(g.ctx.anchors)]
    assert held and len(held) < len(groups), "the real windows must include heldout and other episodes"
    cfg = RoundConfig(method="dpo", train=TrainConfig(trl_overrides=FAST, lora=LoraSettings(rank=4)))
    r = run_round(
        groups,
        [],
        base_model_dir=tiny_model_dir,
        store=ModelStore(tmp_path / "store"),
        work_dir=tmp_path / "work",
        evaluate=lambda ref: 0.0,
        config=cfg,
    )
    assert r.train is not None and r.train.trained_on, r.reason
    assert r.heldout_dropped == len(held)
    group_of = {c.candidate_id: g for g in groups for c in g.candidates}
    used = {group_of[i].ctx.anchors.key for i in r.train.trained_on}
    assert used and not any(heldout.holds(group_of[i].ctx.anchors) for i in r.train.trained_on), used
    assert not {c.candidate_id for g in held for c in g.candidates} & set(r.train.trained_on)
    assert r.status == "refused" and r.decision is not None and r.decision.reason == "tie"  # constant bench


def test_without_a_readable_list_the_round_refuses_to_train(
    groups: list[CandidateGroup], tmp_path: Path
) -> None:
    bad = tmp_path / "heldout.json"
    bad.write_text(json.dumps({"schema_version": 99, "case_set": "v2", "recordings": []}))
    for path in (tmp_path / "missing.json", bad):
        with pytest.raises(HeldoutListError):
            run_round(
                groups,
                [],
                base_model_dir=tmp_path,
                store=ModelStore(tmp_path / "store"),
                work_dir=tmp_path,
                evaluate=lambda ref: 0.0,
                config=RoundConfig(heldout_file=path),
            )
    assert HELDOUT_FILE.is_file()
