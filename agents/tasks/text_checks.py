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

import re
import threading
import unicodedata
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel

from agents.tasks.anchor_view import action_phrase, event_phrase, parse_action
from agents.tasks.base import SynthesisContext, TaskOutput, Validator, Violation
from agents.tasks.text_checks_config import TextChecksConfig
from streaming.records import Anchor, AnchorSet

if TYPE_CHECKING:
    from agents.tasks.base import TaskFamily
    from agents.text_embedder import Embedder

TEXT_REASONS = frozenset({"text_not_language", "text_not_grounded", "qa_inconsistent", "injected_content"})

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_TOKEN = re.compile(r"[^\W_]+")
_QUOTED = re.compile(r'"([^"\n]{1,200})"|“([^”\n]{1,200})”')
_FRAME_MENTION = re.compile(
    r"\b(?:frames?|steps?)\s+(\d{1,7})(?![\d.])(?:\s*(?:-|–|to|through|and)\s*(\d{1,7})(?![\d.]))?"
    r"((?:\s*(?:,\s*(?:and\s+)?|and\s+)\d{1,7}(?![\d.])(?!\s*(?:s|sec|seconds)\b))*)",
    re.IGNORECASE)
_NUMBER = re.compile(r"\d{1,7}")
_IDENT_BRACKETS = re.compile(r"\[\d+\]")
_IDENT = re.compile(r"\S*[_=]\S*|\S+:\S+|\S+\[\d+\]\S*")
_URL = re.compile(r"(?i)\b(?:(?:https?|ftp)://|www\.)[^\s<>\"')\]]+"
                  r"|\b(?:[a-z0-9-]+\.)+"
                  r"(?:com|org|net|io|ru|cn|xyz|info|biz|top|co|me|ly|gl|app|dev|site|link)"
                  r"\b(?:/[^\s<>\"')\]]*)?")
_EMAIL = re.compile(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b")
_INJECTION = (
    re.compile(r"(?i)\b(?:ignore|disregard|forget|override|bypass)\b(?:\s+\w+){0,3}\s+"
               r"(?:instructions?|prompts?|rules?|directions?|constraints?|guidelines?|anchors?)\b"),
    re.compile(r"(?i)\b(?:system|developer)\s+(?:prompt|message|mode)\b"),
    re.compile(r"(?i)\b(?:you\s+are\s+now|from\s+now\s+on\s+you"
               r"|act\s+as\s+(?:an?\s+)?(?:ai|assistant|model|dan)\b"
               r"|pretend\s+(?:to\s+be|you\s+are)|new\s+instructions?|jailbr[eo]ak|do\s+anything\s+now)"),
    re.compile(r"(?i)(?:^|\n)\s*(?:system|assistant|user)\s*:"),
    re.compile(r"<\|[^|>]{1,40}\|>|</?\s*(?:data|system|script|instructions?)\s*>", re.IGNORECASE),
)
# asking for secrets: injected unless the window itself has the field (a login form's "Password" box)
_SECRETS = re.compile(r"(?i)\b(?:send|share|reveal|enter|type|give)\s+(?:(?:your|the|my|their)\s+)?"
                      r"(passwords?|credentials?|api\s+keys?|credit\s+card|secrets?|tokens?)\b")

# English function words (closed classes): what English prose is made of, and what nonsense lacks.
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor
not now of off on once only or other our ours ourselves out over own same she should so some such than
that the their theirs them themselves then there these they this those through to too under until up very
was we were what when where which while who whom why will with would you your yours yourself yourselves
also may might must shall upon via onto toward towards within without across along around behind beside
besides beyond inside outside past since though although whether either neither yet s t let lets
""".split())
# Words any output of any family may use about its own task: order, time, frames, the kinds of streams.
TASK_WORDS = frozenset("""
first second third last next previous then later earlier finally begin begins start starts started end ends
ended finish finishes stop stops happen happens happened occur occurs show shows shown appear appears see seen
watch look view visible frame frames step steps window clip video episode session scene shot shots cut cuts
moment time times seconds order which when where question answer while during until again once twice
robot arm gripper object user screen page app apps click clicks tap type types press scroll swipe select open
opens close closes move moves moving motion still static pause paused recover recovery resume resumes stuck
stall stalls phase subtask task tasks action actions event events evidence range anchor anchors camera image
change changes changed transition text reads button field icon tab link search home back enter wait done
complete completed tutorial guide learn follow perform do use take keep continue record recorded grasp grasps
release releases reach reaches carry carries lift lifts lifted contact sequence part segment plan new again
following fragment fragments restore original go goes going
""".split())
_DETERMINERS = frozenset({"the", "a", "an", "its", "their", "my", "your", "our"})
_PREPOSITIONS = frozenset({"of", "in", "into", "onto", "at", "from", "with", "by", "for", "toward", "towards",
                           "between", "during", "through", "under", "above", "below"})
_CONJUNCTIONS = frozenset({"and", "or", "but", "nor", "than"})
_AUX = frozenset({"is", "are", "was", "were", "be", "been", "being", "has", "have", "had", "does", "did",
                  "will", "would", "can", "could", "should", "must", "might"})
_PRONOUNS = frozenset({"it", "he", "she", "they", "we", "i"})
_SUFFIXES = ("ings", "ing", "edly", "ed", "es", "s", "ly", "ers", "er", "ions", "ion", "ments", "ment")
_VOWELS = frozenset("aeiouy")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light, deterministic stem (`closes`, `closed`, `closing` → `clos`) for matching, not for show."""
    w = word.casefold().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    for suffix in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in _VOWELS:
        w = w[:-1]
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    if len(w) > 3 and w.endswith("y"):
        w = w[:-1] + "i"
    return w


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def without_quotes(text: str) -> str:
    return _QUOTED.sub(" ", text)


def quoted(text: str) -> list[str]:
    return [(m.group(1) or m.group(2) or "").strip() for m in _QUOTED.finditer(text)]


def flat(text: str) -> str:
    """Case-folded, quotes unified, whitespace collapsed: the form substring lookups compare."""
    return " ".join(text.replace("“", '"').replace("”", '"').replace("’", "'").casefold().split())


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if len(w) > 1 and w.casefold() not in STOPWORDS]


def script_of(ch: str) -> str:
    """The Unicode script family of a letter (LATIN, CYRILLIC, CJK, HANGUL, ARABIC, ...)."""
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return "UNKNOWN"
    head = name.split(" ", 1)[0]
    if head in ("HIRAGANA", "KATAKANA", "CJK"):
        return "CJK"
    return head


def scripts(text: str) -> Counter[str]:
    return Counter(script_of(c) for c in text if c.isalpha())


@dataclass(frozen=True)
class Language:
    """The language an output should be written in: a script, and whether it is English (word checks)."""

    script: str
    english: bool


def language_of(texts: Iterable[str], default: str = "en") -> Language:
    """The language of the first text with at least three words (the intent, then the instruction)."""
    for text in texts:
        ws = words(text)
        if len(ws) < 3:
            continue
        script = scripts(text).most_common(1)[0][0]
        share = sum(w.casefold() in STOPWORDS for w in ws) / len(ws)
        return Language(script, script == "LATIN" and (share >= 0.1 or _dictionary_share(ws) >= 0.8))
    return Language("LATIN", default == "en")


@lru_cache(maxsize=1)
def dictionary() -> frozenset[str]:
    """English dictionary words and their stems: MiniLM's WordPiece vocabulary (whole, alphabetic entries)."""
    from agents.text_embedder import vocab_path

    entries = [line.strip() for line in vocab_path().read_text(encoding="utf-8").splitlines()]
    whole = [e for e in entries if e.isalpha() and e.isascii() and (len(e) > 1 or e in ("a", "i"))]
    return frozenset(whole) | frozenset(stem(e) for e in whole) | TASK_WORDS | STOPWORDS


def known_word(word: str, grounded: frozenset[str]) -> bool:
    w = word.casefold()
    folded = unicodedata.normalize("NFKD", w).encode("ascii", "ignore").decode()
    d = dictionary()
    return w in d or stem(w) in d or stem(w) in grounded or (folded == w and folded in d)


def _dictionary_share(ws: list[str]) -> float:
    d = dictionary()
    return sum(w.casefold() in d or stem(w) in d for w in ws) / max(1, len(ws))


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
    out = [anchors.instruction] if anchors.instruction else []
    for a in anchors.anchors:
        out.extend(anchor_texts(a))
    return out


_FACTS: OrderedDict[tuple[str, ...], Facts] = OrderedDict()
_FACTS_LOCK = threading.Lock()
_FACTS_MAX = 256


def facts_for(family: TaskFamily, ctx: SynthesisContext, config: TextChecksConfig | None = None) -> Facts:
    """The facts of this window, intent and family (cached for the last few hundred windows). Distractor
    sessions count only for a family whose output they change (gui_task_reconstruction's fragments)."""
    cfg = config or TextChecksConfig()
    a = ctx.anchors
    content = hash((a.instruction, tuple((x.anchor_id, x.type, x.content) for x in a.anchors),
                    tuple((d.window_id, len(d.anchors)) for d in ctx.distractors)))
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
    stems |= {w.casefold() for t in unique for w in _TOKEN.findall(t)}
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
        grams = Counter(tuple(tokens[i:i + n]) for i in range(n_tokens - n + 1))
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


_ABBREVIATIONS = frozenset({"e.g.", "i.e.", "vs.", "etc.", "approx.", "no.", "fig.", "cf.", "mr.", "ms.",
                            "dr.", "st."})
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
        if i and _SENTENCE_END.search(tokens[i - 1]) and tok[:1].islower() and \
                tokens[i - 1].casefold() not in _ABBREVIATIONS:
            faults += 1
        core = tok.strip("()[],;:.!?'\"")
        if (i and core[:1].isupper() and core.casefold() in STOPWORDS and core != "I" and core != "A"
                and not tokens[i - 1].endswith((".", "?", "!", ":", ";", "(", "-")) and tokens[i - 1] != "-"):
            faults += 1
    ws = words(text)
    low = [w.casefold() for w in ws]
    for i, w in enumerate(low):
        nxt = low[i + 1] if i + 1 < len(low) else None
        if w in _DETERMINERS and not (w == "a" and ws[i] == "A"):
            if nxt is None or nxt in _DETERMINERS | _PREPOSITIONS | _CONJUNCTIONS | _AUX | _PRONOUNS:
                faults += 1
        elif w in _PREPOSITIONS and nxt is not None and nxt in _AUX:
            faults += 1
        elif w in _CONJUNCTIONS and nxt is not None and nxt in _CONJUNCTIONS:
            faults += 1
    depth = 0
    for ch in _IDENT_BRACKETS.sub(" ", text if bracketed is None else bracketed):
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            faults += 1
            depth = 0
    return faults


def prose(text: str) -> str:
    """The text without quoted spans and identifier-like tokens (anchor ids, key=value, snake_case)."""
    return _IDENT.sub(" ", without_quotes(text))


def language_scores(text: str, facts: Facts, config: TextChecksConfig) -> LanguageScores:
    bare = prose(text)
    ws = words(bare)
    tokens = [t.casefold() for t in _TOKEN.findall(text)]
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
    for m in _FRAME_MENTION.finditer(text):
        out.append(int(m.group(1)))
        if m.group(2):
            out.append(int(m.group(2)))
        out.extend(int(n) for n in _NUMBER.findall(m.group(3) or ""))
    return out


def grounding_scores(text: str, facts: Facts) -> GroundingScores:
    cw = content_words(without_quotes(text))
    missing = [w for w in cw if not facts.grounded(w)]
    quotes = tuple(q for q in quoted(text) if q and not facts.contains(q)
                   and not all(facts.grounded(w) for w in words(q)))
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
    key = [stem(w) for w in content_words(option) if w.casefold() not in TASK_WORDS] or \
        [stem(w) for w in content_words(option)]
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
    uncited = tuple(f for f in named_frames(answer)
                    if f not in frames and not any(s <= f <= e for s, e in ranges))
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


class TextCheck(Validator):
    """Base of the text validators: the family (for its rules output) and the thresholds."""

    def __init__(self, family: TaskFamily, config: TextChecksConfig | None = None,
                 embedder: Embedder | None = None) -> None:
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
                why = (f"{s.foreign_share:.0%} of its letters are in a script the intent "
                       f"({facts.language.script}) and the anchors do not use")
            elif s.loop_share > cfg.max_loop_share:
                why = f"a repeated token loop covers {s.loop_share:.0%} of it"
            elif facts.language.english and s.unknown_share > cfg.max_unknown_word_share:
                why = f"{s.unknown_share:.0%} of its words are no English word and in no anchor"
            elif (facts.language.english and s.words >= cfg.min_words_for_function_words
                  and s.function_share < cfg.min_function_word_share):
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
        for (name, text), s in zip(fields, scores, strict=True):
            for q in s.bad_quotes:
                out.append(Violation("text_not_grounded", f"{name}: quoted {q[:80]!r} is in no anchor, "
                                                          "instruction or intent"))
            if s.bad_frames:
                out.append(Violation("text_not_grounded", f"{name}: names frames {list(s.bad_frames)} "
                                                          f"outside the window (0-{facts.num_frames - 1})"))
        weak = [i for i, s in enumerate(scores)
                if s.content >= cfg.min_field_words and s.share < cfg.min_field_grounded_share]
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
                out.append(Violation("text_not_grounded",
                                     f"{fields[i][0]}: {s.share:.0%} of its content words are in the "
                                     f"anchored facts (unanchored: {', '.join(s.ungrounded[:6])}); "
                                     f"nearest fact similarity {sim:.2f}"))
        if whole_weak and sims[-1] < cfg.min_semantic:
            missing = list(dict.fromkeys(w for s in scores for w in s.ungrounded))
            out.append(Violation("text_not_grounded",
                                 f"output: {total_share:.0%} of its content words are in the anchored facts "
                                 f"(unanchored: {', '.join(missing[:8])}); nearest fact similarity "
                                 f"{sims[-1]:.2f}"))
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
            out.append(Violation("qa_inconsistent", f"answer names frames {list(s.uncited_frames)} that the "
                                                    "output does not cite (evidence / ranges)"))
        if s.missed_alternatives:
            out.append(Violation("qa_inconsistent", "answer does not address "
                                 + ", ".join(repr(o[:60]) for o in s.missed_alternatives)
                                 + " of the question"))
        if s.overlap == 0:
            sim = self.embedder.similarity(question, answer)
            if sim < self.config.min_qa_similarity:
                out.append(Violation("qa_inconsistent", "answer shares no content word with the question and "
                                                        f"its similarity is {sim:.2f}"))
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
            found = [m.group(0) for m in _URL.finditer(text)] + [m.group(0) for m in _EMAIL.finditer(text)]
            found += [m.group(0) for p in _INJECTION for m in p.finditer(text)]
            found += [m.group(0) for m in _SECRETS.finditer(text)
                      if not all(facts.grounded(w) for w in words(m.group(1)))]
            for item in dict.fromkeys(f.strip() for f in found):
                if not facts.contains(item):
                    out.append(Violation("injected_content", f"{name}: {item[:80]!r} appears in no anchor, "
                                                             "instruction or intent"))
        return out


def text_validators(family: TaskFamily, config: TextChecksConfig | None = None) -> list[Validator]:
    """The text validators every family runs (none when disabled)."""
    cfg = config or TextChecksConfig()
    if not cfg.enabled:
        return []
    return [NoInjectedContent(family, cfg), TextIsLanguage(family, cfg), TextGrounded(family, cfg),
            QaConsistent(family, cfg)]
