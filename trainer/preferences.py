"""Preference building: candidate groups → chosen/rejected pairs (TRL conversational format) and GRPO prompts.

A group is the n candidates sampled for one window + intent + family; they share one prompt, so any two
of them can form a pair. Comparing two candidates:

- both have a feedback utility → the higher utility wins, by at least `utility_margin` (basis "utility");
- otherwise → the higher rule reward `r_total` wins, by at least `reward_margin` (basis "reward").

The winner must be strictly better (a tie never pairs) and its text must differ from the loser's after
canonicalisation (fences stripped, JSON re-serialised with sorted keys): identical texts are never paired.

Ranking (best first, used to choose the partner of each loser) sorts by: feedback utility (candidates with
one first, higher first), then r_total (higher first), then shorter text (fewer characters; R_eff favours
concise outputs), then generation order (earlier first). With the default policy each beaten candidate is
paired with the best-ranked candidate that beats it; losers are taken worst first, at most
`max_pairs_per_group` pairs per group. Explicit preference feedback (chosen_id, rejected_id) inside one
group is added first and overrides a computed pair over the same two candidates (basis "preference").
"""

from __future__ import annotations

import hashlib
import json
import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agents.rewards import group_rewards
from agents.rewards_config import RewardsConfig
from agents.synthesis.base import WindowImage
from agents.synthesis_step import example_id
from agents.tasks.base import SynthesisContext, TaskFamily, strip_fence
from trainer.feedback import FeedbackLedger
from trainer.preferences_config import PreferencesConfig

log = logging.getLogger(__name__)

Message = dict[str, Any]


@dataclass(frozen=True)
class Candidate:
    candidate_id: str  # the example id the synthesis step gives this candidate
    text: str  # the raw model output
    rewards: Mapping[str, float]  # rule reward terms (r_format, r_anchor, r_eff, r_total, ...)
    utility: float | None = None  # feedback utility, when downstream results exist

    @property
    def r_total(self) -> float:
        return float(self.rewards.get("r_total", 0.0))


@dataclass(frozen=True)
class CandidateGroup:
    family: TaskFamily
    ctx: SynthesisContext
    candidates: tuple[Candidate, ...]
    images: tuple[WindowImage, ...] = ()  # the window's key frames, for a base model that takes images

    @property
    def group_id(self) -> str:
        return f"{self.ctx.anchors.window_id}|{self.ctx.spec.intent_id or '-'}|{self.family.name}"

    def prompt(self) -> list[Message]:
        return self.family.chat_messages(self.ctx)


@dataclass(frozen=True)
class PreferencePair:
    group_id: str
    task_family: str
    prompt: list[Message]
    chosen_id: str
    rejected_id: str
    chosen: str
    rejected: str
    basis: str  # utility | reward | preference
    gap: float  # score difference on the basis (0 for explicit preferences)
    images: tuple[bytes, ...] = ()  # PNG key frames in time order (a vision model's pairs)
    image_frames: tuple[int, ...] = ()

    def to_trl(self) -> dict[str, Any]:
        """The conversational preference record of TRL's DPOTrainer (as `tailor export` writes it); with key
        frames, TRL's vision-language form (content parts and an `images` column)."""
        if self.images:
            from trainer.vision_rows import assistant, vision_row

            row = vision_row(
                self.prompt,
                {"chosen": assistant(self.chosen), "rejected": assistant(self.rejected)},
                self.images,
                self.image_frames,
            )
            return {
                **row,
                "chosen_id": self.chosen_id,
                "rejected_id": self.rejected_id,
                "task_family": self.task_family,
            }
        return {
            "prompt": self.prompt,
            "chosen": [{"role": "assistant", "content": self.chosen}],
            "rejected": [{"role": "assistant", "content": self.rejected}],
            "chosen_id": self.chosen_id,
            "rejected_id": self.rejected_id,
            "task_family": self.task_family,
        }


@dataclass(frozen=True)
class GrpoPrompt:
    """One GRPO prompt: its messages, and the family and context its completions are rewarded against."""

    row_id: str
    group_id: str
    family: TaskFamily
    ctx: SynthesisContext
    prompt: list[Message]
    candidate_ids: tuple[str, ...] = ()


@dataclass
class PairSet:
    pairs: list[PreferencePair] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def example_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for p in self.pairs:
            seen.setdefault(p.chosen_id)
            seen.setdefault(p.rejected_id)
        return list(seen)


def canonical(text: str) -> str:
    body = strip_fence(text)
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return body


def build_group(
    family: TaskFamily,
    ctx: SynthesisContext,
    texts: Sequence[str],
    weights_version: str | None = None,
    ids: Sequence[str] | None = None,
    rewards: RewardsConfig | None = None,
    model: str = "rules",
) -> CandidateGroup:
    """A group from the n texts of one generation by `model` (`Generation.model`), rewarded as the synthesis
    step rewards them; without `ids`, each candidate gets the example id the synthesis step gives it."""
    if ids is not None and len(ids) != len(texts):
        raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
    terms = group_rewards(family, ctx, list(texts), rewards) if texts else []
    cand_ids = (
        list(ids)
        if ids is not None
        else [example_id(ctx.anchors.window_id, family.name, model, weights_version, t) for t in texts]
    )
    return CandidateGroup(family, ctx, tuple(Candidate(i, t, r) for i, t, r in zip(cand_ids, texts, terms)))


def with_feedback(group: CandidateGroup, ledger: FeedbackLedger) -> CandidateGroup:
    """The group with each candidate's feedback utility filled from the ledger (None where it has none)."""
    return replace(
        group, candidates=tuple(replace(c, utility=ledger.utility(c.candidate_id)) for c in group.candidates)
    )


def rank_key(c: Candidate, index: int) -> tuple[int, float, float, int, int]:
    return (0 if c.utility is not None else 1, -(c.utility or 0.0), -c.r_total, len(c.text), index)


def ranked(group: CandidateGroup) -> list[Candidate]:
    order = sorted(range(len(group.candidates)), key=lambda i: rank_key(group.candidates[i], i))
    return [group.candidates[i] for i in order]


def beats(a: Candidate, b: Candidate, cfg: PreferencesConfig) -> tuple[str, float] | None:
    """(basis, gap) when `a` is better than `b` by the basis's margin, else None."""
    if a.utility is not None and b.utility is not None:
        gap, basis, margin = a.utility - b.utility, "utility", cfg.utility_margin
    else:
        gap, basis, margin = a.r_total - b.r_total, "reward", cfg.reward_margin
    return (basis, gap) if gap > 0 and gap >= margin else None


class PairPolicy(ABC):
    """Chooses which (winner, loser) index pairs of a ranked group become training pairs."""

    @abstractmethod
    def select(self, order: list[Candidate], cfg: PreferencesConfig) -> list[tuple[int, int, str, float]]:
        """(winner index, loser index, basis, gap) into `order` (best first)."""


class BestVsRest(PairPolicy):
    def select(self, order: list[Candidate], cfg: PreferencesConfig) -> list[tuple[int, int, str, float]]:
        out = []
        for j in reversed(range(len(order))):
            for i in range(len(order)):
                won = beats(order[i], order[j], cfg) if i != j else None
                if won is not None:
                    out.append((i, j, *won))
                    break
        return out


class AllPairs(PairPolicy):
    def select(self, order: list[Candidate], cfg: PreferencesConfig) -> list[tuple[int, int, str, float]]:
        out = []
        for j in reversed(range(len(order))):
            for i in range(len(order)):
                won = beats(order[i], order[j], cfg) if i != j else None
                if won is not None:
                    out.append((i, j, *won))
        return out


POLICIES: dict[str, PairPolicy] = {"best_vs_rest": BestVsRest(), "all": AllPairs()}


class PreferenceBuilder:
    def __init__(self, config: PreferencesConfig | None = None) -> None:
        self.config = config or PreferencesConfig()

    def build(self, groups: Iterable[CandidateGroup], explicit: Sequence[tuple[str, str]] = ()) -> PairSet:
        """Pairs of every group; `explicit`: (chosen_id, rejected_id) preference feedback."""
        out = PairSet()
        placed: set[tuple[str, str]] = set()
        for group in groups:
            out.pairs.extend(
                self.group_pairs(group, explicit if self.config.use_explicit else (), out.skipped)
            )
            ids = {c.candidate_id for c in group.candidates}
            placed.update(pair for pair in explicit if pair[0] in ids and pair[1] in ids)
        outside = sum(1 for pair in set(explicit) if pair not in placed) if self.config.use_explicit else 0
        if outside:
            out.skipped["explicit_outside_groups"] += outside
        log.info("built %d preference pairs (skipped: %s)", len(out.pairs), dict(out.skipped) or "none")
        return out

    def group_pairs(
        self, group: CandidateGroup, explicit: Sequence[tuple[str, str]], skipped: Counter[str]
    ) -> list[PreferencePair]:
        cfg = self.config
        by_id = {c.candidate_id: c for c in group.candidates}
        prompt = group.prompt()
        shown = sorted(group.images, key=lambda i: i.frame_index)
        out: list[PreferencePair] = []
        texts: set[tuple[str, str]] = set()

        def add(chosen: Candidate, rejected: Candidate, basis: str, gap: float) -> None:
            key = (canonical(chosen.text), canonical(rejected.text))
            if key[0] == key[1]:
                skipped["identical_texts"] += 1
            elif key in texts or (key[1], key[0]) in texts:
                skipped["duplicate_pair"] += 1
            elif len(out) >= cfg.max_pairs_per_group:
                skipped["group_limit"] += 1
            else:
                texts.add(key)
                out.append(
                    PreferencePair(
                        group.group_id,
                        group.family.name,
                        prompt,
                        chosen.candidate_id,
                        rejected.candidate_id,
                        chosen.text,
                        rejected.text,
                        basis,
                        gap,
                        tuple(i.data for i in shown),
                        tuple(i.frame_index for i in shown),
                    )
                )

        for chosen_id, rejected_id in dict.fromkeys(explicit):
            if chosen_id in by_id and rejected_id in by_id:
                add(by_id[chosen_id], by_id[rejected_id], "preference", 0.0)
        order = ranked(group)
        for i, j, basis, gap in POLICIES[cfg.policy].select(order, cfg):
            add(order[i], order[j], basis, gap)
        if len(group.candidates) > 1 and not out:
            skipped["no_clear_winner"] += 1
        return out


def build_pairs(
    groups: Iterable[CandidateGroup],
    explicit: Sequence[tuple[str, str]] = (),
    config: PreferencesConfig | None = None,
) -> PairSet:
    return PreferenceBuilder(config).build(groups, explicit)


def grpo_prompts(groups: Iterable[CandidateGroup]) -> list[GrpoPrompt]:
    """One prompt per distinct group (same window, intent and family: same prompt and reward context)."""
    out: dict[str, GrpoPrompt] = {}
    for group in groups:
        if group.group_id in out:
            continue
        row_id = hashlib.sha256(group.group_id.encode()).hexdigest()[:16]
        out[group.group_id] = GrpoPrompt(
            row_id,
            group.group_id,
            group.family,
            group.ctx,
            group.prompt(),
            tuple(c.candidate_id for c in group.candidates),
        )
    return list(out.values())
