"""Scoring of one prediction against one case, following the DataClaw0-val metric:

    S_total = G_json · (0.20·S_field + 0.35·S_semantic + 0.45·S_traj)

- G_json ∈ {0, 1}: the raw text parses (one optional markdown fence) into the family's strict schema.
- S_field: see `bench.fields` (leaf-path coverage of the reference and extraneous-field ratio).
- S_semantic: see `bench.semantic` (MiniLM cosine of the question / answer / cot texts).
- S_traj = exp(−d / 0.10), d the mean |p − r| of the prediction's and the reference's trajectories
  (`family.trajectory`: normalised cited frames in the family's order) resampled to 50 points
  (`agents.rewards.anchor_reward`). 0 when the prediction does not parse.

S_field and S_semantic are also computed for valid JSON objects that miss the schema (reported per case;
S_total is 0 for them all the same). Grounding precision and density: see `bench.grounding`.

What the pipeline keeps: `passed` = 1 when the output parses and Tailor's validators (`family.validate`)
accept it, else 0; S_accepted = S_total · passed (an output the validators reject is never published, so
it scores 0). S_total overstates what the pipeline accepts; S_accepted does not.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from agents.rewards import anchor_reward
from agents.rewards_config import RewardsConfig
from agents.tasks.base import (
    ParseError,
    SynthesisContext,
    TaskFamily,
    TaskOutput,
    TaskSpec,
    registry,
    strip_fence,
)
from agents.tasks.base_config import PromptConfig
from bench.case import BenchCase
from bench.fields import field_score
from bench.grounding import TokenCounter, density, grounding_precision
from bench.scoring_config import ScoringConfig
from bench.semantic import Embedder, semantic_score
from core.records.base import too_deep

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaseScore:
    case_id: str
    domain: str
    family: str
    g_json: float
    s_field: float
    s_semantic: float
    s_traj: float
    s_total: float
    s_accepted: float  # s_total when the validators accept the parsed output, else 0
    passed: float  # 1 when the output parses and the validators accept it, else 0
    grounding_precision: float | None
    density: float | None  # output tokens per second of raw stream
    tokens: int
    valid: float | None  # 1 when Tailor's validators accept the parsed output (diagnostic)
    parse_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def context(case: BenchCase) -> SynthesisContext:
    """The synthesis context of a case: its anchors, its intent, its distractors."""
    return SynthesisContext(
        case.anchors,
        TaskSpec(case.family, intent_id=case.case_id, domain=case.domain, text=case.intent),
        tuple(case.distractors),
    )


def loose_json(text: str, limits: PromptConfig) -> Any:
    """The text as JSON (fence stripped), or None; None too for outputs over the families' size or
    nesting limits (what `TaskFamily.parse` rejects as output_too_large / json_too_deep)."""
    body = strip_fence(text)
    if len(body) > limits.max_output_chars:
        return None
    if too_deep(body.encode("utf-8", "replace"), limits.max_output_depth):
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


class CaseScorer:
    """Scores raw model texts against cases (families, MiniLM and the tokenizer are shared)."""

    def __init__(self, config: ScoringConfig | None = None, embedder: Embedder | None = None) -> None:
        self.config = config or ScoringConfig()
        self._embedder = embedder

    @cached_property
    def embedder(self) -> Embedder:
        return self._embedder or Embedder.shared()

    @cached_property
    def families(self) -> dict[str, TaskFamily]:
        return registry()

    @cached_property
    def tokens(self) -> TokenCounter:
        return TokenCounter(self.config.density_tokens, self.config.tokenizer_file)

    def reference(self, case: BenchCase) -> TaskOutput:
        return self.families[case.family].parse(json.dumps(case.reference))

    def score(self, case: BenchCase, raw_text: str) -> CaseScore:
        cfg = self.config
        family = self.families[case.family]
        ctx = context(case)
        try:
            output: TaskOutput | None = family.parse(raw_text)
            parse_error = None
        except ParseError as exc:
            output, parse_error = None, exc.reason
        loose = (
            output.model_dump(mode="json")
            if output is not None
            else loose_json(raw_text, family.prompt_config)
        )
        s_field = field_score(case.reference, loose, cfg.coverage_weight)
        s_semantic = semantic_score(case.family, case.reference, loose, self.embedder, cfg)
        g_json = 1.0 if output is not None else 0.0
        s_traj, precision, valid = 0.0, None, None
        if output is not None:
            s_traj = self.trajectory_score(family, ctx, output, self.reference(case))
            precision = grounding_precision(family, ctx, output)
            valid = 0.0 if family.validate(ctx, output) else 1.0
        total = g_json * (cfg.w_field * s_field + cfg.w_semantic * s_semantic + cfg.w_traj * s_traj)
        passed = 1.0 if valid == 1.0 else 0.0
        tokens = self.tokens.count(raw_text)
        return CaseScore(
            case.case_id,
            case.domain,
            case.family,
            g_json,
            s_field,
            s_semantic,
            s_traj,
            total,
            total * passed,
            passed,
            precision,
            density(tokens, case.anchors) if raw_text else None,
            tokens,
            valid,
            parse_error,
        )

    def trajectory_score(
        self, family: TaskFamily, ctx: SynthesisContext, output: TaskOutput, reference: TaskOutput
    ) -> float:
        rewards = RewardsConfig(anchor_scale=self.config.traj_scale, resample_points=self.config.traj_points)
        try:
            return anchor_reward(family.trajectory(ctx, output), family.trajectory(ctx, reference), rewards)
        except ValueError as exc:  # NaN cannot come out of a parsed output; guard all the same
            log.warning("%s: no trajectory score: %s", family.name, exc)
            return 0.0
