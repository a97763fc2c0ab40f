"""Thresholds of the text validators (agents.tasks.text_checks) and of the sink's reward floor.

Every threshold was measured with `python -m bench.text_thresholds` on the dev split of the benchmark
cases (bench/cases/v2, 56 cases): "good" texts are the cases' annotated references and the rules
backend's outputs for the same windows (89 outputs, 273 text fields); "bad" texts are the issue's kind of
nonsense (invented words; fluent text about things no anchor holds), text transplanted from another
recording's case of the same family, word-shuffled text, repeated-token loops and injected instructions /
URLs (768 outputs). The comment under each field gives what was measured.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TextChecksConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = Field(
        default=True, description="Run the text validators (language, grounding, question/answer, injection)."
    )
    # --- text_not_language ---------------------------------------------------------------------------
    default_language: str = Field(
        default="en",
        description="Language assumed when neither the intent nor the window's instruction has three words "
        "to tell from (en: English; anything else only checks the script and loops).",
    )
    max_unknown_word_share: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="English text: most share of its words (outside quotes and the anchored facts) that are "
        "no dictionary word (MiniLM's WordPiece vocabulary, light suffix stripping).",
    )  # per field: good max 0.077; invented words min 0.50, p50 0.80
    min_words_for_function_words: int = Field(
        default=8,
        ge=1,
        description="English text with at least this many words must hold function words (the, of, to, ...).",
    )
    min_function_word_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Least share of English function words in such a text (identifiers and quotes left out).",
    )  # per field of 8+ words: good min 0.10 (a rules cot copying an anchor), references 0.33; loops p5 0.0
    max_loop_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Most share of a text's tokens covered by the repeats of its most repeated n-gram "
        "(n = 1..6, repeated at least `min_loop_repeats` times).",
    )  # per field: good max 0.36 (rules); repeated-token loops min 0.75, p5 1.0
    min_loop_repeats: int = Field(
        default=4, ge=2, description="An n-gram counts as a loop from this many repeats."
    )
    max_bad_order: int = Field(
        default=1,
        ge=0,
        description="English text: most word-order faults (a determiner before a function word or at the "
        "end, a sentence end before a lowercase word, a capitalised function word inside a sentence, a "
        "closing bracket first, ...).",
    )  # per field: good max 0 (273 fields); shuffled text of 8+ words p50 2, p95 5
    max_foreign_script_share: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Most share of letters in a script that is neither the intent's nor any anchored fact's.",
    )
    # --- text_not_grounded ---------------------------------------------------------------------------
    min_grounded_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Least share of an output's content words (over all its text fields) whose stem is in "
        "the anchored facts (anchor contents and phrases, instruction, intent, the rules output's texts, "
        "task words), unless the embedding similarity rescues it (`min_semantic`).",
    )  # per output: rules 1.0; references p5 0.31 (the bikes shot descriptions, which no anchor holds)
    min_field_grounded_share: float = Field(
        default=0.4,
        ge=0,
        le=1,
        description="Least grounded share of one text field with at least `min_field_words` content words, "
        "under the same embedding rescue.",
    )  # per field of 3+ content words: good min 0.44 outside the bikes shot descriptions (0.18-0.37);
    # fluent unanchored text max 0.29, invented words 0.0
    min_field_words: int = Field(
        default=3, ge=1, description="Fields with fewer content words are judged only as part of the output."
    )
    min_semantic: float = Field(
        default=0.55,
        ge=0,
        le=1,
        description="A text short of the lexical bar still passes when its MiniLM cosine similarity to the "
        "nearest anchored fact sentence is at least this.",
    )  # per field: unanchored text max 0.43, invented words max 0.32, transplants max 0.52; good p50 0.62
    max_fact_texts: int = Field(
        default=96, gt=0, description="Most anchored-fact sentences embedded per window (longest first)."
    )
    # --- qa_inconsistent -----------------------------------------------------------------------------
    min_qa_similarity: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Least MiniLM cosine similarity of question and answer when they share no content word.",
    )  # good pairs min 0.52 (and they share 2+ content words); unanchored questions p50 0.11
    # --- the sink's reward floor (agents.synthesis_step.judge) ---------------------------------------
    min_reward: float = Field(
        default=1.2,
        description="Least r_total an output that passes every validator needs to reach the sink (else it is "
        "rejected as reward_below_minimum). With R_format = R_eff = 1 it asks for R_anchor >= 0.2 (the "
        "issue's five accepted nonsense outputs had R_anchor 0.016-0.17).",
    )  # agents.rewards, each output alone: every valid good output 2.0; outputs whose frames were moved onto
    # other anchored frames and that pass every validator: 9 of 14 under 1.2 (p50 1.08)
