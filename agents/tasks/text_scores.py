"""Scores behind the text validators (`agents.tasks.text_checks`): the facts of a window, language,
grounding and question-answer scores. Pure functions of the text, the facts and the thresholds."""

from __future__ import annotations

import re
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel

from agents.tasks.anchor_view import action_phrase, event_phrase, parse_action
from agents.tasks.base import SynthesisContext, TaskOutput
from agents.tasks.text_checks_config import TextChecksConfig
from agents.tasks.text_words import (
    AUX,
    CONJUNCTIONS,
    DETERMINERS,
    FRAME_MENTION,
    IDENT,
    IDENT_BRACKETS,
    NUMBER,
    PREPOSITIONS,
    PRONOUNS,
    STOPWORDS,
    TASK_WORDS,
    TOKEN,
    Language,
    content_words,
    flat,
    known_word,
    language_of,
    quoted,
    scripts,
    stem,
    without_quotes,
    words,
)
from core.records import Anchor, AnchorSet

if TYPE_CHECKING:
    from agents.tasks.base import TaskFamily
    from agents.text_embedder import Embedder


@dataclass(frozen=True)
class Facts:
    """What an output may draw its words from, for one window, intent and family."""

    texts: tuple[str, ...]  # sentences: instruction, intent, anchor contents and phrases, rules-output texts
    stems: frozenset[str]  # stems of their words, plus the task words
    blob: str  # every fact text, flattened and joined (substring lookups: quotes, URLs, phrases)
    language: Language
    scripts: frozenset[str]  # scripts of letters in the facts (OCR text in another script is fine)
    num_frames: int

    def grounded(self, word: str) -> bool:
        w = word.casefold()
        return stem(w) in self.stems or w in self.stems

    def contains(self, text: str) -> bool:
        needle = flat(text).strip(" .,:;!?'\"")
        return bool(needle) and needle in self.blob


def anchor_texts(anchor: Anchor) -> list[str]:
    """An anchor's content and what the families say about it."""
    from agents.tasks.next_subtask import ROBOT_PHASES

    out = [anchor.content] if anchor.content else []
    out.append(anchor.type.replace("_", " "))
    if anchor.type == "gui_action":
        parsed = parse_action(anchor.content)
        out.append(action_phrase(parsed))
        out.extend(t for t in (parsed.target, parsed.text, parsed.role, parsed.direction) if t)
    if anchor.type == "subtask" and anchor.content in ROBOT_PHASES:
        out.append(ROBOT_PHASES[anchor.content])
    try:
        out.append(event_phrase(anchor))
    except (ValueError, KeyError):  # an event phrase needs nothing more than type and content; guard anyway
        pass
    return out


def window_fact_texts(anchors: AnchorSet) -> list[str]:
    from agents.tasks.robot_phases import phase_label

    out = [anchors.instruction] if anchors.instruction else []
    for a in anchors.anchors:
        out.extend(anchor_texts(a))
        if a.type == "subtask" and anchors.domain == "robot":  # the words the families use for it
            out.append(phase_label(a.content, anchors.instruction))
    return out


_FACTS: OrderedDict[tuple[str, ...], Facts] = OrderedDict()
_FACTS_LOCK = threading.Lock()
_FACTS_MAX = 256


def clear_facts_cache() -> None:
    """Forget every window's facts (a benchmark timing a cold window)."""
    with _FACTS_LOCK:
        _FACTS.clear()


def facts_for(family: TaskFamily, ctx: SynthesisContext, config: TextChecksConfig | None = None) -> Facts:
    """The facts of this window, intent and family (cached for the last few hundred windows). Distractor
    sessions count only for a family whose output they change (gui_task_reconstruction's fragments)."""
    cfg = config or TextChecksConfig()
    a = ctx.anchors
    content = hash(
        (
            a.instruction,
            tuple((x.anchor_id, x.type, x.content) for x in a.anchors),
            tuple((d.window_id, len(d.anchors)) for d in ctx.distractors),
        )
    )
    key = (family.name, str(id(family)), a.window_id, str(a.num_frames), str(content), ctx.spec.text)
    with _FACTS_LOCK:
        hit = _FACTS.get(key)
        if hit is not None:
            _FACTS.move_to_end(key)
            return hit
    texts = [ctx.spec.text] if ctx.spec.text else []
    texts.extend(window_fact_texts(a))
    rule = family.rule_output(ctx)
    if ctx.distractors and rule != family.rule_output(SynthesisContext(a, ctx.spec)):
        for d in ctx.distractors:  # the family shows other sessions' steps (reconstruction fragments)
            texts.extend(window_fact_texts(d))
    if isinstance(rule, TaskOutput):
        texts.extend(t for _, t in rule.text_fields())
    unique = list(dict.fromkeys(t.strip() for t in texts if t and t.strip()))
    stems = {stem(w) for t in unique for w in words(t)}
    stems |= {w.casefold() for t in unique for w in TOKEN.findall(t)}
    stems |= {stem(w) for w in TASK_WORDS}
    found_scripts = frozenset(s for t in unique for s in scripts(t))
    language = language_of([ctx.spec.text, a.instruction or ""], cfg.default_language)
    blob = "\n".join(flat(t) for t in unique)
    facts = Facts(tuple(unique), frozenset(stems), blob, language, found_scripts, a.num_frames)
    with _FACTS_LOCK:
        _FACTS[key] = facts
        while len(_FACTS) > _FACTS_MAX:
            _FACTS.popitem(last=False)
    return facts


def sentence_facts(facts: Facts, limit: int) -> list[str]:
    """The fact texts worth embedding: prose (two words or more), longest first, at most `limit`."""
    prose = [t for t in facts.texts if len(words(t)) >= 2]
    return sorted(prose, key=lambda t: (-len(t), t))[:limit]


# ---------------------------------------------------------------------------------------------------------
# Scores (raw numbers; the validators compare them with the thresholds; bench.text_thresholds measures them)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LanguageScores:
    words: int  # letter words in the text (outside quotes)
    unknown_share: float  # English: share of those that are no dictionary word and not in the facts
    function_share: float  # share of English function words
    loop_share: float  # tokens covered by the repeats of the most repeated n-gram
    bad_order: int  # word-order faults (English)
    foreign_share: float  # letters in a script neither the expected one nor the facts'


def loop_share(tokens: list[str], min_repeats: int) -> float:
    """Share of the tokens covered by the most repeated n-gram (n = 1..6) repeated at least `min_repeats`
    times; for n = 1 only repeats of a non-function word, or a run of the same token, count."""
    n_tokens = len(tokens)
    if n_tokens < min_repeats:
        return 0.0
    best = 0.0
    for n in range(1, 7):
        if n * min_repeats > n_tokens:
            break
        grams = Counter(tuple(tokens[i : i + n]) for i in range(n_tokens - n + 1))
        gram, count = grams.most_common(1)[0]
        if n == 1 and gram[0] in STOPWORDS:
            run = max_run(tokens)
            count = run if run >= min_repeats else 0
        if count >= min_repeats:
            best = max(best, min(1.0, count * n / n_tokens))
    return best


def max_run(tokens: list[str]) -> int:
    best = run = 0
    for i, t in enumerate(tokens):
        run = run + 1 if i and t == tokens[i - 1] else 1
        best = max(best, run)
    return best


_ABBREVIATIONS = frozenset(
    {"e.g.", "i.e.", "vs.", "etc.", "approx.", "no.", "fig.", "cf.", "mr.", "ms.", "dr.", "st."}
)
_SENTENCE_END = re.compile(r"[?!]$|[^\d.]\.$")


def bad_order(text: str, bracketed: str | None = None) -> int:
    """Word-order faults of English, in text without quotes and identifiers: a determiner followed by a
    function word of another class (or ending the text), a preposition followed by an auxiliary, two
    conjunctions in a row, a sentence end followed by a lowercase word, a capitalised function word inside a
    sentence, a closing bracket before its opening one (in `bracketed`, the text before identifiers were
    taken out, when given). Real text has none or one; word salad has several."""
    faults = 0
    tokens = text.split()
    for i, tok in enumerate(tokens):
        if (
            i
            and _SENTENCE_END.search(tokens[i - 1])
            and tok[:1].islower()
            and tokens[i - 1].casefold() not in _ABBREVIATIONS
        ):
            faults += 1
        core = tok.strip("()[],;:.!?'\"")
        if (
            i
            and core[:1].isupper()
            and core.casefold() in STOPWORDS
            and core != "I"
            and core != "A"
            and not tokens[i - 1].endswith((".", "?", "!", ":", ";", "(", "-"))
            and tokens[i - 1] != "-"
        ):
            faults += 1
    ws = words(text)
    low = [w.casefold() for w in ws]
    for i, w in enumerate(low):
        nxt = low[i + 1] if i + 1 < len(low) else None
        if w in DETERMINERS and not (w == "a" and ws[i] == "A"):
            if nxt is None or nxt in DETERMINERS | PREPOSITIONS | CONJUNCTIONS | AUX | PRONOUNS:
                faults += 1
        elif (
            w in PREPOSITIONS
            and nxt is not None
            and nxt in AUX
            or w in CONJUNCTIONS
            and nxt is not None
            and nxt in CONJUNCTIONS
        ):
            faults += 1
    depth = 0
    for ch in IDENT_BRACKETS.sub(" ", text if bracketed is None else bracketed):
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            faults += 1
            depth = 0
    return faults


def prose(text: str) -> str:
    """The text without quoted spans and identifier-like tokens (anchor ids, key=value, snake_case)."""
    return IDENT.sub(" ", without_quotes(text))


def language_scores(text: str, facts: Facts, config: TextChecksConfig) -> LanguageScores:
    bare = prose(text)
    ws = words(bare)
    tokens = [t.casefold() for t in TOKEN.findall(text)]
    loop = loop_share(tokens, config.min_loop_repeats)
    letters = scripts(bare)
    total = sum(letters.values())
    allowed = {facts.language.script} | set(facts.scripts)
    foreign = sum(n for s, n in letters.items() if s not in allowed) / total if total else 0.0
    if not ws:
        return LanguageScores(0, 0.0, 1.0, loop, 0, foreign)
    function = sum(w.casefold() in STOPWORDS for w in ws) / len(ws)
    if not facts.language.english:
        return LanguageScores(len(ws), 0.0, function, loop, 0, foreign)
    free = [w for w in ws if not facts.grounded(w)]
    unknown = sum(not known_word(w, facts.stems) for w in free) / len(ws)
    return LanguageScores(len(ws), unknown, function, loop, bad_order(bare, without_quotes(text)), foreign)


@dataclass(frozen=True)
class GroundingScores:
    content: int  # content words (outside quotes)
    grounded: int  # of those, in the facts
    ungrounded: tuple[str, ...]  # the content words not in the facts (for details)
    bad_quotes: tuple[str, ...]  # quoted text found in no fact
    bad_frames: tuple[int, ...]  # frames the text names outside the window

    @property
    def share(self) -> float:
        return self.grounded / self.content if self.content else 1.0


def named_frames(text: str) -> list[int]:
    """Frame / step numbers a text names: `frame 4`, `frames 30-75`, `steps 0, 2 and 3`."""
    out = []
    for m in FRAME_MENTION.finditer(text):
        out.append(int(m.group(1)))
        if m.group(2):
            out.append(int(m.group(2)))
        out.extend(int(n) for n in NUMBER.findall(m.group(3) or ""))
    return out


def grounding_scores(text: str, facts: Facts) -> GroundingScores:
    cw = content_words(without_quotes(text))
    missing = [w for w in cw if not facts.grounded(w)]
    quotes = tuple(
        q
        for q in quoted(text)
        if q and not facts.contains(q) and not all(facts.grounded(w) for w in words(q))
    )
    frames = tuple(f for f in named_frames(text) if not 0 <= f < max(1, facts.num_frames))
    return GroundingScores(len(cw), len(cw) - len(missing), tuple(dict.fromkeys(missing)), quotes, frames)


def semantic_scores(texts: list[str], facts: Facts, embedder: Embedder, limit: int) -> list[float]:
    """Per text: the MiniLM cosine similarity to its nearest fact sentence (0 when there is none)."""
    fact_texts = sentence_facts(facts, limit)
    if not fact_texts or not texts:
        return [0.0 for _ in texts]
    f = embedder.matrix(fact_texts)
    t = embedder.matrix(texts)
    sims = t @ f.T
    return [float(max(0.0, min(1.0, s))) for s in np.max(sims, axis=1)]


@dataclass(frozen=True)
class QaScores:
    overlap: int  # content stems shared by question and answer
    similarity: float | None  # MiniLM cosine (None: not computed, the overlap decided)
    uncited_frames: tuple[int, ...]  # frames the answer names that the output does not cite
    missed_alternatives: tuple[str, ...]  # alternatives of an either-or question the answer leaves out


def alternatives(question: str) -> list[str]:
    """The two options of `...: X, or Y?` / `... X or Y?` (empty for other questions)."""
    body = question.strip().rstrip("?").strip()
    head, sep, tail = body.rpartition(" or ")
    if not sep:
        return []
    head = head.rstrip(" ,")
    if ":" in head:
        head = head.rsplit(":", 1)[1]
    elif "," in head:
        head = head.rsplit(",", 1)[1]
    else:
        return []
    return [h.strip() for h in (head, tail) if h.strip()]


def mentioned(option: str, answer: str) -> bool:
    """The answer names the option: one of its distinguishing content words (or its quoted text) is there."""
    answer_stems = {stem(w) for w in words(answer)}
    key = [stem(w) for w in content_words(option) if w.casefold() not in TASK_WORDS] or [
        stem(w) for w in content_words(option)
    ]
    return not key or any(k in answer_stems for k in key) or flat(option) in flat(answer)


def cited_frame_set(output: TaskOutput) -> tuple[set[int], list[tuple[int, int]]]:
    """Frames an answer may name: every frame the output cites, and the frames inside its ranges except the
    input ranges (`input_video`, `input_range`: the scope of the question, not its answer)."""
    frames = {c.frame for c in output.frame_cites()}
    ranges = [(r.start, r.end) for r in output.range_cites() if not r.field.startswith("input")]
    return frames, ranges


def qa_scores(question: str, answer: str, output: TaskOutput, embedder: Embedder | None) -> QaScores:
    q_stems = {stem(w) for w in content_words(question)}
    a_stems = {stem(w) for w in content_words(answer)}
    overlap = len(q_stems & a_stems)
    frames, ranges = cited_frame_set(output)
    uncited = tuple(
        f for f in named_frames(answer) if f not in frames and not any(s <= f <= e for s, e in ranges)
    )
    missed = tuple(o for o in alternatives(question) if not mentioned(o, answer))
    similarity = None
    if embedder is not None:
        va, vb = embedder.embed([question, answer])
        similarity = float(max(0.0, min(1.0, float(np.dot(va, vb)))))
    return QaScores(overlap, similarity, uncited, missed)


# ---------------------------------------------------------------------------------------------------------
# Validators
# ---------------------------------------------------------------------------------------------------------


def as_output(output: BaseModel) -> TaskOutput:
    if not isinstance(output, TaskOutput):
        raise TypeError(f"text validators need a TaskOutput, got {type(output).__name__}")
    return output


def shared_embedder() -> Embedder:
    from agents.text_embedder import Embedder

    return Embedder.shared()
