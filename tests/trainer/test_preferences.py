"""Preference building on real Bridge windows: ranking by reward or feedback, margins, identical texts,
explicit preferences, TRL's conversational format, GRPO prompts."""

from __future__ import annotations

import json

from agents.tasks.base import SynthesisContext, TaskFamily, TaskSpec
from core.records import AnchorSet, Feedback
from tests.trainer.conftest import PROSE, rule_text, shifted_text
from trainer.feedback import FeedbackLedger
from trainer.preferences import CandidateGroup, build_group, build_pairs, grpo_prompts, ranked, with_feedback
from trainer.preferences_config import PreferencesConfig


def utility(ex_id: str, value: float) -> Feedback:
    return Feedback(
        feedback_id=f"u-{ex_id}", kind="example_utility", example_ids=[ex_id], utility=value, created_at=1.0
    )


def test_reward_ranking_pairs_the_grounded_answer_over_the_rest(groups: list[CandidateGroup]) -> None:
    group = groups[0]
    good, worse, prose = group.candidates
    assert good.r_total > worse.r_total > prose.r_total  # the rule rewards order them
    built = build_pairs([group])
    assert [(p.chosen_id, p.rejected_id) for p in built.pairs] == [
        (good.candidate_id, prose.candidate_id),
        (good.candidate_id, worse.candidate_id),
    ]
    for p in built.pairs:
        assert p.basis == "reward" and p.gap >= PreferencesConfig().reward_margin
        record = p.to_trl()
        assert record["prompt"][0]["role"] == "system" and record["prompt"][-1]["role"] == "user"
        assert record["prompt"] == group.prompt()
        assert record["chosen"] == [{"role": "assistant", "content": good.text}]
        assert record["rejected"][0]["role"] == "assistant" and record["rejected"][0]["content"] != good.text
    assert built.example_ids == [good.candidate_id, prose.candidate_id, worse.candidate_id]


def test_all_policy_pairs_every_winner_with_every_loser(groups: list[CandidateGroup]) -> None:
    built = build_pairs(groups[:1], config=PreferencesConfig(policy="all"))
    good, worse, prose = groups[0].candidates
    assert {(p.chosen_id, p.rejected_id) for p in built.pairs} == {
        (good.candidate_id, worse.candidate_id),
        (good.candidate_id, prose.candidate_id),
        (worse.candidate_id, prose.candidate_id),
    }


def test_identical_texts_are_never_paired(family: TaskFamily, bridge_windows: list[AnchorSet]) -> None:
    window = bridge_windows[0]
    ctx = SynthesisContext(window, TaskSpec(family.name))
    text = rule_text(family, window)
    respaced = "```json\n" + json.dumps(json.loads(text), indent=2) + "\n```"  # same content, other bytes
    group = build_group(family, ctx, [text, respaced], ids=["a", "b"])
    ledger = FeedbackLedger()
    ledger.add_all([utility("a", 0.9), utility("b", 0.1)])  # feedback prefers a, but the texts are the same
    built = build_pairs([with_feedback(group, ledger)], explicit=[("a", "b")])
    assert built.pairs == []
    assert built.skipped["identical_texts"] >= 1
    assert "explicit_outside_groups" not in built.skipped  # the explicit pair was inside the group


def test_a_gap_below_the_margin_makes_no_pair(family: TaskFamily, bridge_windows: list[AnchorSet]) -> None:
    window = bridge_windows[0]
    ctx = SynthesisContext(window, TaskSpec(family.name))
    group = build_group(
        family, ctx, [rule_text(family, window), shifted_text(family, window)], ids=["a", "b"]
    )
    gap = group.candidates[0].r_total - group.candidates[1].r_total
    assert gap > 0
    assert len(build_pairs([group], config=PreferencesConfig(reward_margin=gap * 0.9)).pairs) == 1
    strict = build_pairs([group], config=PreferencesConfig(reward_margin=gap * 1.1))
    assert strict.pairs == [] and strict.skipped["no_clear_winner"] == 1


def test_feedback_utility_overrides_the_rule_reward(groups: list[CandidateGroup]) -> None:
    good, worse, prose = groups[0].candidates
    ledger = FeedbackLedger()
    # downstream, the shifted answer helped and the rule answer did not
    ledger.add_all([utility(good.candidate_id, 0.1), utility(worse.candidate_id, 0.7)])
    group = with_feedback(groups[0], ledger)
    assert [c.candidate_id for c in ranked(group)] == [
        worse.candidate_id,
        good.candidate_id,
        prose.candidate_id,
    ]
    pairs = {(p.chosen_id, p.rejected_id): p.basis for p in build_pairs([group]).pairs}
    # the two with utilities compare on utility; prose has none, so it is compared on reward with the
    # best-ranked candidate that beats it
    assert pairs == {
        (worse.candidate_id, good.candidate_id): "utility",
        (worse.candidate_id, prose.candidate_id): "reward",
    }


def test_explicit_preferences_come_first_and_only_inside_one_group(groups: list[CandidateGroup]) -> None:
    g0, g1 = groups[0], groups[1]
    prose0, worse0 = g0.candidates[2], g0.candidates[1]
    explicit = [
        (prose0.candidate_id, worse0.candidate_id),  # a person preferred the prose: taken as said
        (g0.candidates[0].candidate_id, g1.candidates[2].candidate_id),
    ]  # different prompts: unusable
    built = build_pairs([g0, g1], explicit=explicit)
    first = built.pairs[0]
    assert (first.chosen_id, first.rejected_id, first.basis) == (
        prose0.candidate_id,
        worse0.candidate_id,
        "preference",
    )
    # the computed pair over the same two texts in the other direction is dropped
    assert all(
        {p.chosen_id, p.rejected_id} != {prose0.candidate_id, worse0.candidate_id} for p in built.pairs[1:]
    )
    assert built.skipped["explicit_outside_groups"] == 1
    assert all(p.group_id in (g0.group_id, g1.group_id) for p in built.pairs)


def test_group_limit_caps_pairs(groups: list[CandidateGroup]) -> None:
    built = build_pairs(groups[:1], config=PreferencesConfig(policy="all", max_pairs_per_group=1))
    assert len(built.pairs) == 1 and built.skipped["group_limit"] == 2


def test_candidate_ids_match_the_synthesis_step_ids(
    family: TaskFamily, bridge_windows: list[AnchorSet]
) -> None:
    from agents.synthesis.base import Generation
    from agents.synthesis_step import example_id, judge

    window = bridge_windows[0]
    ctx = SynthesisContext(window, TaskSpec(family.name, intent_id="i9"))
    texts = [rule_text(family, window), PROSE, PROSE + "!"]
    group = build_group(family, ctx, texts, weights_version="v3", model="smollm2")
    assert [c.candidate_id for c in group.candidates] == [
        example_id(window.window_id, family.name, "smollm2", "v3", t) for t in texts
    ]
    # the trainer's join: the ids the synthesis step publishes are the group's candidate ids
    step = judge(family, ctx, Generation(texts=texts, model="smollm2", weights_version="v3"))
    published = [e.example_id for e in step.accepted] + [r.example_id for r in step.rejected]
    assert sorted(published) == sorted(c.candidate_id for c in group.candidates)


def test_example_ids_name_their_maker(family: TaskFamily, bridge_windows: list[AnchorSet]) -> None:
    """The rules backend and a model writing the same text for the same window, intent and family get
    different ids (both are kept in a shared dataset); so do two weights versions of one model."""
    from agents.synthesis.base import Generation
    from agents.synthesis_step import judge

    window = bridge_windows[0]
    ctx = SynthesisContext(window, TaskSpec(family.name, intent_id="i9"))
    text = rule_text(family, window)

    def ids(model: str, version: str | None) -> list[str]:
        step = judge(family, ctx, Generation(texts=[text], model=model, weights_version=version))
        assert not step.rejected, step.rejected
        return [e.example_id for e in step.accepted]

    makers = [ids("rules", None), ids("smollm2", None), ids("smollm2", "v2"), ids("hf:Smol", None)]
    assert all(len(m) == 1 for m in makers) and len({m[0] for m in makers}) == 4


def test_the_same_generation_judged_again_gets_the_same_ids(
    family: TaskFamily, bridge_windows: list[AnchorSet]
) -> None:
    """A redelivered window whose generation comes back the same is published under the same ids (the sink
    then writes it once); identical candidates of one group share one id and are published once, different
    ones never share an id."""
    from agents.synthesis.base import Generation
    from agents.synthesis_step import judge

    window = bridge_windows[0]
    ctx = SynthesisContext(window, TaskSpec(family.name, intent_id="i9"))
    good = rule_text(family, window)
    respaced = "```json\n" + json.dumps(json.loads(good), indent=2) + "\n```"  # the same content, canonically
    gen = Generation(
        texts=[good, shifted_text(family, window), PROSE, respaced], model="smollm2", weights_version="v3"
    )

    def published(step_gen: Generation) -> list[str]:
        step = judge(family, ctx, step_gen)
        assert step.duplicates == 1  # the re-fenced, re-indented copy of `good`: its id, not published again
        return [e.example_id for e in step.accepted] + [r.example_id for r in step.rejected]

    first = published(gen)
    assert published(gen) == first  # judged again: the same ids, in the same order
    assert len(first) == 3 and len(set(first)) == 3


def test_grpo_prompts_one_per_group_with_their_reward_context(groups: list[CandidateGroup]) -> None:
    prompts = grpo_prompts([*groups, groups[0]])
    assert len(prompts) == len(groups)
    assert len({p.row_id for p in prompts}) == len(prompts)
    for p, g in zip(prompts, groups):
        assert p.prompt == g.prompt() and p.ctx is g.ctx and p.family is g.family
        assert p.candidate_ids == tuple(c.candidate_id for c in g.candidates)


def test_round_groups_pair_only_model_outputs_unless_asked(
    family: TaskFamily, bridge_windows: list[AnchorSet]
) -> None:
    """The trainer's groups from the topics: a rules output beside two model outputs of one window is left
    out by default (a pair must set two of the policy's own texts against each other), kept with "all"."""
    from app.trainer_service import TopicSnapshot, candidate_groups
    from core.records import Example, RejectedExample, SourceSpan

    window = next(w for w in bridge_windows if family.applies(w))
    span = SourceSpan(
        topic="tailor.raw.robot", partition=0, first_offset=0, last_offset=9, start_time=0.0, end_time=1.0
    )
    good = rule_text(family, window)

    def accepted(ex_id: str, model: str) -> Example:
        return Example(
            example_id=ex_id,
            task_family=family.name,
            output_json=good,
            window_id=window.window_id,
            source=span,
            model=model,
            rewards={"r_total": 1.0},
            created_at=1.0,
        )

    worse = RejectedExample(
        example_id="m-2",
        task_family=family.name,
        window_id=window.window_id,
        reasons=["frame_out_of_window"],
        raw_output=PROSE,
        model="smollm2",
        rewards={"r_total": -2.0},
        created_at=1.0,
    )
    snap = TopicSnapshot(
        {window.window_id: window}, {}, [accepted("r-1", "rules"), accepted("m-1", "smollm2")], [worse], []
    )
    (group,) = candidate_groups(snap)
    assert [c.candidate_id for c in group.candidates] == ["m-1", "m-2"]
    (everything,) = candidate_groups(snap, "all")
    assert [c.candidate_id for c in everything.candidates] == ["r-1", "m-1", "m-2"]
    # a window whose only model output stands beside a rules one makes no group (one candidate pairs nothing)
    alone = TopicSnapshot(
        {window.window_id: window}, {}, [accepted("r-1", "rules"), accepted("m-1", "smollm2")], [], []
    )
    assert candidate_groups(alone) == [] and len(candidate_groups(alone, "all")) == 1
