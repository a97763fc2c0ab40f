"""Words for the text validators (`agents.tasks.text_checks`): tokenising, stemming, scripts, the
language of a text, the English dictionary, and the word lists the checks rely on."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
TOKEN = re.compile(r"[^\W_]+")
_QUOTED = re.compile(r'"([^"\n]{1,200})"|“([^”\n]{1,200})”')
FRAME_MENTION = re.compile(
    r"\b(?:frames?|steps?)\s+(\d{1,7})(?![\d.])(?:\s*(?:-|–|to|through|and)\s*(\d{1,7})(?![\d.]))?"
    r"((?:\s*(?:,\s*(?:and\s+)?|and\s+)\d{1,7}(?![\d.])(?!\s*(?:s|sec|seconds)\b))*)",
    re.IGNORECASE,
)
NUMBER = re.compile(r"\d{1,7}")
IDENT_BRACKETS = re.compile(r"\[\d+\]")
IDENT = re.compile(r"\S*[_=]\S*|\S+:\S+|\S+\[\d+\]\S*")
URL = re.compile(
    r"(?i)\b(?:(?:https?|ftp)://|www\.)[^\s<>\"')\]]+"
    r"|\b(?:[a-z0-9-]+\.)+"
    r"(?:com|org|net|io|ru|cn|xyz|info|biz|top|co|me|ly|gl|app|dev|site|link)"
    r"\b(?:/[^\s<>\"')\]]*)?"
)
EMAIL = re.compile(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b")
INJECTION = (
    re.compile(
        r"(?i)\b(?:ignore|disregard|forget|override|bypass)\b(?:\s+\w+){0,3}\s+"
        r"(?:instructions?|prompts?|rules?|directions?|constraints?|guidelines?|anchors?)\b"
    ),
    re.compile(r"(?i)\b(?:system|developer)\s+(?:prompt|message|mode)\b"),
    re.compile(
        r"(?i)\b(?:you\s+are\s+now|from\s+now\s+on\s+you"
        r"|act\s+as\s+(?:an?\s+)?(?:ai|assistant|model|dan)\b"
        r"|pretend\s+(?:to\s+be|you\s+are)|new\s+instructions?|jailbr[eo]ak|do\s+anything\s+now)"
    ),
    re.compile(r"(?i)(?:^|\n)\s*(?:system|assistant|user)\s*:"),
    re.compile(r"<\|[^|>]{1,40}\|>|</?\s*(?:data|system|script|instructions?)\s*>", re.IGNORECASE),
)
# asking for secrets: injected unless the window itself has the field (a login form's "Password" box)
SECRETS = re.compile(
    r"(?i)\b(?:send|share|reveal|enter|type|give)\s+(?:(?:your|the|my|their)\s+)?"
    r"(passwords?|credentials?|api\s+keys?|credit\s+card|secrets?|tokens?)\b"
)

# English function words (closed classes): what English prose is made of, and what nonsense lacks.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "may",
        "might",
        "must",
        "shall",
        "upon",
        "via",
        "onto",
        "toward",
        "towards",
        "within",
        "without",
        "across",
        "along",
        "around",
        "behind",
        "beside",
        "besides",
        "beyond",
        "inside",
        "outside",
        "past",
        "since",
        "though",
        "although",
        "whether",
        "either",
        "neither",
        "yet",
        "s",
        "t",
        "let",
        "lets",
    ]
)
# Words any output of any family may use about its own task: order, time, frames, the kinds of streams.
TASK_WORDS = frozenset(
    [
        "first",
        "second",
        "third",
        "last",
        "next",
        "previous",
        "then",
        "later",
        "earlier",
        "finally",
        "begin",
        "begins",
        "start",
        "starts",
        "started",
        "end",
        "ends",
        "ended",
        "finish",
        "finishes",
        "stop",
        "stops",
        "happen",
        "happens",
        "happened",
        "occur",
        "occurs",
        "show",
        "shows",
        "shown",
        "appear",
        "appears",
        "see",
        "seen",
        "watch",
        "look",
        "view",
        "visible",
        "frame",
        "frames",
        "step",
        "steps",
        "window",
        "clip",
        "video",
        "episode",
        "session",
        "scene",
        "shot",
        "shots",
        "cut",
        "cuts",
        "moment",
        "time",
        "times",
        "seconds",
        "order",
        "which",
        "when",
        "where",
        "question",
        "answer",
        "while",
        "during",
        "until",
        "again",
        "once",
        "twice",
        "robot",
        "arm",
        "gripper",
        "object",
        "user",
        "screen",
        "page",
        "app",
        "apps",
        "click",
        "clicks",
        "tap",
        "type",
        "types",
        "press",
        "scroll",
        "swipe",
        "select",
        "open",
        "opens",
        "close",
        "closes",
        "move",
        "moves",
        "moving",
        "motion",
        "still",
        "static",
        "pause",
        "paused",
        "recover",
        "recovery",
        "resume",
        "resumes",
        "stuck",
        "stall",
        "stalls",
        "phase",
        "subtask",
        "task",
        "tasks",
        "action",
        "actions",
        "event",
        "events",
        "evidence",
        "range",
        "anchor",
        "anchors",
        "camera",
        "image",
        "change",
        "changes",
        "changed",
        "transition",
        "text",
        "reads",
        "button",
        "field",
        "icon",
        "tab",
        "link",
        "search",
        "home",
        "back",
        "enter",
        "wait",
        "done",
        "complete",
        "completed",
        "tutorial",
        "guide",
        "learn",
        "follow",
        "perform",
        "do",
        "use",
        "take",
        "keep",
        "continue",
        "record",
        "recorded",
        "grasp",
        "grasps",
        "release",
        "releases",
        "reach",
        "reaches",
        "carry",
        "carries",
        "lift",
        "lifts",
        "lifted",
        "contact",
        "sequence",
        "part",
        "segment",
        "plan",
        "new",
        "again",
        "following",
        "fragment",
        "fragments",
        "restore",
        "original",
        "go",
        "goes",
        "going",
    ]
)
DETERMINERS = frozenset({"the", "a", "an", "its", "their", "my", "your", "our"})
PREPOSITIONS = frozenset(
    {
        "of",
        "in",
        "into",
        "onto",
        "at",
        "from",
        "with",
        "by",
        "for",
        "toward",
        "towards",
        "between",
        "during",
        "through",
        "under",
        "above",
        "below",
    }
)
CONJUNCTIONS = frozenset({"and", "or", "but", "nor", "than"})
AUX = frozenset(
    {
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "does",
        "did",
        "will",
        "would",
        "can",
        "could",
        "should",
        "must",
        "might",
    }
)
PRONOUNS = frozenset({"it", "he", "she", "they", "we", "i"})
_SUFFIXES = ("ings", "ing", "edly", "ed", "es", "s", "ly", "ers", "er", "ions", "ion", "ments", "ment")
_VOWELS = frozenset("aeiouy")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light, deterministic stem (`closes`, `closed`, `closing` → `clos`) for matching, not for show."""
    w = word.casefold().replace("’", "'")
    w = w.removesuffix("'s")
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
