"""Text validators: the words of an output must be language, come from the window's facts, answer their
question, and carry nothing injected. One check, one reason label:

- `text_not_language` (TextIsLanguage): each text field is well-formed language in the intent's language:
  letters of the expected script, dictionary words (English), function words, no word salad, no
  repeated-token loops.
- `text_not_grounded` (TextGrounded): quoted text (on-screen text, typed text, app names) occurs in the
  facts; frames the text names lie in the window; the content words come from the facts (lexical share),
  or the text is close to a fact (MiniLM cosine).
- `qa_inconsistent` (QaConsistent): the frames the answer names are frames the output cites; the answer
  addresses the question (shared content words, else embedding similarity; both options of an
  either-or question).
- `injected_content` (NoInjectedContent): no URL, e-mail address, role marker or instruction to a model
  ("ignore previous instructions") that appears in no anchor, instruction or intent.

The **facts** of a window (`facts_for`) are what an output may draw words from: every anchor's content and
its phrase (`the gripper closes`, `Type "10203" into "Zip code"`, the robot phase names), the instruction,
the intent text, the distractor sessions' anchors where the family shows them (reconstruction
fragments), the family's rules-output texts for the window, and a small vocabulary of task words (frame,
step, first, then, ...). They are computed once per window and family (small LRU cache); the embedder
(`agents.text_embedder`) caches its embeddings by text, so a window's facts are embedded once for all its
candidates, and only texts that miss the lexical bar are embedded at all.

Thresholds live in `TextChecksConfig`, measured by `python -m bench.text_thresholds`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from agents.tasks.base import SynthesisContext, Validator, Violation
from agents.tasks.text_checks_config import TextChecksConfig
from agents.tasks.text_scores import (
    Facts,
    as_output,
    facts_for,
    grounding_scores,
    language_scores,
    qa_scores,
    semantic_scores,
    shared_embedder,
)
from agents.tasks.text_words import EMAIL, INJECTION, SECRETS, URL, words

if TYPE_CHECKING:
    from agents.tasks.base import TaskFamily
    from agents.text_embedder import Embedder

TEXT_REASONS = frozenset({"text_not_language", "text_not_grounded", "qa_inconsistent", "injected_content"})


class TextCheck(Validator):
    """Base of the text validators: the family (for its rules output) and the thresholds."""

    def __init__(
        self, family: TaskFamily, config: TextChecksConfig | None = None, embedder: Embedder | None = None
    ) -> None:
        self.family = family
        self.config = config or TextChecksConfig()
        self._embedder = embedder

    @property
    def embedder(self) -> Embedder:
        return self._embedder or shared_embedder()

    def facts(self, ctx: SynthesisContext) -> Facts:
        return facts_for(self.family, ctx, self.config)


class TextIsLanguage(TextCheck):
    """Each text field is well-formed language in the intent's language (text_not_language)."""

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        cfg = self.config
        fields = as_output(output).text_fields()
        if not fields:
            return []
        facts = self.facts(ctx)
        out = []
        for name, text in fields:
            s = language_scores(text, facts, cfg)
            why = None
            if s.foreign_share > cfg.max_foreign_script_share:
                why = (
                    f"{s.foreign_share:.0%} of its letters are in a script the intent "
                    f"({facts.language.script}) and the anchors do not use"
                )
            elif s.loop_share > cfg.max_loop_share:
                why = f"a repeated token loop covers {s.loop_share:.0%} of it"
            elif facts.language.english and s.unknown_share > cfg.max_unknown_word_share:
                why = f"{s.unknown_share:.0%} of its words are no English word and in no anchor"
            elif (
                facts.language.english
                and s.words >= cfg.min_words_for_function_words
                and s.function_share < cfg.min_function_word_share
            ):
                why = f"only {s.function_share:.0%} function words over {s.words} words"
            elif facts.language.english and s.bad_order > cfg.max_bad_order:
                why = f"{s.bad_order} word-order faults (word salad)"
            if why:
                out.append(Violation("text_not_language", f"{name}: {why}: {text[:120]!r}"))
        return out


class TextGrounded(TextCheck):
    """What the text names comes from the facts: quoted text, frame numbers, content words, meaning
    (text_not_grounded)."""

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        cfg = self.config
        fields = [(n, t) for n, t in as_output(output).text_fields() if t.strip()]
        if not fields:
            return []
        facts = self.facts(ctx)
        scores = [grounding_scores(t, facts) for _, t in fields]
        out = []
        for (name, _text), s in zip(fields, scores, strict=True):
            for q in s.bad_quotes:
                out.append(
                    Violation(
                        "text_not_grounded",
                        f"{name}: quoted {q[:80]!r} is in no anchor, instruction or intent",
                    )
                )
            if s.bad_frames:
                out.append(
                    Violation(
                        "text_not_grounded",
                        f"{name}: names frames {list(s.bad_frames)} "
                        f"outside the window (0-{facts.num_frames - 1})",
                    )
                )
        weak = [
            i
            for i, s in enumerate(scores)
            if s.content >= cfg.min_field_words and s.share < cfg.min_field_grounded_share
        ]
        content = sum(s.content for s in scores)
        total_share = sum(s.grounded for s in scores) / content if content else 1.0
        whole_weak = total_share < cfg.min_grounded_share
        if not weak and not whole_weak:
            return out
        # the lexical bar is missed: the text may still paraphrase a fact (embedding similarity)
        joined = " ".join(t for _, t in fields)
        probe = [fields[i][1] for i in weak] + ([joined] if whole_weak else [])
        sims = semantic_scores(probe, facts, self.embedder, cfg.max_fact_texts)
        for i, sim in zip(weak, sims, strict=False):
            if sim < cfg.min_semantic:
                s = scores[i]
                out.append(
                    Violation(
                        "text_not_grounded",
                        f"{fields[i][0]}: {s.share:.0%} of its content words are in the "
                        f"anchored facts (unanchored: {', '.join(s.ungrounded[:6])}); "
                        f"nearest fact similarity {sim:.2f}",
                    )
                )
        if whole_weak and sims[-1] < cfg.min_semantic:
            missing = list(dict.fromkeys(w for s in scores for w in s.ungrounded))
            out.append(
                Violation(
                    "text_not_grounded",
                    f"output: {total_share:.0%} of its content words are in the anchored facts "
                    f"(unanchored: {', '.join(missing[:8])}); nearest fact similarity "
                    f"{sims[-1]:.2f}",
                )
            )
        return out


class QaConsistent(TextCheck):
    """The answer fits its question and its own frames (qa_inconsistent); for outputs with both."""

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        out_model = as_output(output)
        fields = dict(out_model.text_fields())
        question, answer = fields.get("question"), fields.get("answer")
        if not question or not answer:
            return []
        s = qa_scores(question, answer, out_model, None)
        out = []
        if s.uncited_frames:
            out.append(
                Violation(
                    "qa_inconsistent",
                    f"answer names frames {list(s.uncited_frames)} that the "
                    "output does not cite (evidence / ranges)",
                )
            )
        if s.missed_alternatives:
            out.append(
                Violation(
                    "qa_inconsistent",
                    "answer does not address "
                    + ", ".join(repr(o[:60]) for o in s.missed_alternatives)
                    + " of the question",
                )
            )
        if s.overlap == 0:
            sim = self.embedder.similarity(question, answer)
            if sim < self.config.min_qa_similarity:
                out.append(
                    Violation(
                        "qa_inconsistent",
                        f"answer shares no content word with the question and its similarity is {sim:.2f}",
                    )
                )
        return out


class NoInjectedContent(TextCheck):
    """No URL, e-mail, role marker or instruction to a model that no anchor, instruction or intent holds
    (injected_content)."""

    def check(self, ctx: SynthesisContext, output: BaseModel) -> list[Violation]:
        fields = as_output(output).text_fields()
        if not fields:
            return []
        facts = self.facts(ctx)
        out = []
        for name, text in fields:
            found = [m.group(0) for m in URL.finditer(text)] + [m.group(0) for m in EMAIL.finditer(text)]
            found += [m.group(0) for p in INJECTION for m in p.finditer(text)]
            found += [
                m.group(0)
                for m in SECRETS.finditer(text)
                if not all(facts.grounded(w) for w in words(m.group(1)))
            ]
            for item in dict.fromkeys(f.strip() for f in found):
                if not facts.contains(item):
                    out.append(
                        Violation(
                            "injected_content",
                            f"{name}: {item[:80]!r} appears in no anchor, instruction or intent",
                        )
                    )
        return out


def text_validators(family: TaskFamily, config: TextChecksConfig | None = None) -> list[Validator]:
    """The text validators every family runs (none when disabled)."""
    cfg = config or TextChecksConfig()
    if not cfg.enabled:
        return []
    return [
        NoInjectedContent(family, cfg),
        TextIsLanguage(family, cfg),
        TextGrounded(family, cfg),
        QaConsistent(family, cfg),
    ]
