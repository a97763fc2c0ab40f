"""The audit page's HTML, rendered on the server. Every text from the data goes through `esc` (and every
URL parameter through `quote`): intents, outputs, prompts and anchor contents are arbitrary user and model
text. The pages load nothing but their own frames (the server's Content-Security-Policy says so too)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import urlencode

from app.audit_index import FILTERS, STATUSES, AuditIndex, facets
from core.records import Anchor, Example, RejectedExample, SourceSpan
from streaming.sinks.reader import StoredExample
from streaming.sinks.rejected import StoredRejection

_STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
pre{white-space:pre-wrap;background:#f6f6f6;padding:6px;max-width:100em}
figure{display:inline-block;margin:4px}img{max-width:320px;max-height:320px;border:1px solid #999}
.timeline{position:relative;height:3.2em;border-bottom:2px solid #555;margin:1em 0 6em 0;max-width:60em}
.tick{position:absolute;bottom:0;border-left:2px solid #888;height:1.2em}
.tick.span{background:linear-gradient(to top,rgba(0,0,0,.15) 0 .3em,transparent .3em)}
.tick.cited{border-left-color:#c33}.tick.cited.span{background:linear-gradient(to top,rgba(204,51,51,.35) 0 .3em,transparent .3em)}
.tick span{position:absolute;font-size:11px;white-space:nowrap;color:#888}.tick.cited span{color:#c33;font-weight:bold}
.frame{border-left-color:#36c;height:2.2em}
.reasons{color:#a00}
"""
_LABELS = {"family": "task family", "domain": "domain", "intent": "intent", "version": "weights version"}


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def example_link(example_id: str) -> str:
    return f"/example?{urlencode({'id': example_id})}"


def rejected_link(example_id: str) -> str:
    return f"/rejected?{urlencode({'id': example_id})}"


def _status_select(status: str) -> str:
    options = "".join(
        f"<option value='{s}'{' selected' if s == status else ''}>{s}</option>" for s in STATUSES
    )
    return f"<select name='status'>{options}</select>"


def list_page(index: AuditIndex, wanted: dict[str, str], limit: int) -> str:
    status = wanted.get("status", "accepted")
    choices = index.choices(status)
    selects = [_status_select(status)]
    for key in FILTERS:
        options = [f"<option value=''>any {esc(_LABELS[key])}</option>"]
        for value in choices[key]:
            chosen = " selected" if wanted.get(key) == value else ""
            options.append(f"<option value='{esc(value)}'{chosen}>{esc(value)}</option>")
        selects.append(f"<select name='{key}'>{''.join(options)}</select>")
    picked = list(index.select(wanted))
    rows = []
    for stored in picked[:limit]:
        got = facets(stored)
        ex: Example | RejectedExample  # the columns both records have
        if isinstance(stored, StoredExample):
            ex = stored.example
            link, last = example_link(ex.example_id), esc(ex.recording or "-")
        else:
            ex = stored.rejected
            link = rejected_link(ex.example_id)
            last = f"<span class='reasons'>{esc(', '.join(ex.reasons))}</span>"
        rows.append(
            "<tr>"
            f"<td><a href='{esc(link)}'>{esc(ex.example_id)}</a></td>"
            f"<td>{esc(got['family'])}</td><td>{esc(got['domain'])}</td>"
            f"<td>{esc(got['intent'])}: {esc((ex.intent_text or '')[:120])}</td>"
            f"<td>{esc(ex.model)} / {esc(got['version'])}</td>"
            f"<td>{ex.rewards.get('r_total', float('nan')):.3f}</td>"
            f"<td>{last}</td><td>{esc(when(ex.created_at))}</td></tr>"
        )
    total = len(index.rejected if status == "rejected" else index.examples)
    shown = f"{min(len(picked), limit)} of {len(picked)} matching ({total} {status} in the dataset)"
    note = (
        "Rejected candidates: never training data (the dataset's __rejected/ table)."
        if status == "rejected"
        else f"Accepted examples (the training data); {len(index.rejected)} rejected candidates beside them."
    )
    return page(
        "Tailor audit",
        f"<h1>Examples in {esc(index.root.name)}</h1>"
        f"<form method='get' action='/'>{''.join(selects)} <button>filter</button></form>"
        f"<p>{shown}. {note}</p>"
        "<table><tr><th>example</th><th>family</th><th>domain</th><th>intent</th><th>model / weights</th>"
        f"<th>r_total</th><th>{'rejected because' if status == 'rejected' else 'recording'}</th>"
        f"<th>created (UTC)</th></tr>{''.join(rows)}</table>",
    )


def _json_block(text: str | None) -> str:
    if not text:
        return "<p>-</p>"
    try:
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        pass
    return f"<pre>{esc(text)}</pre>"


def _prompt(prompt_json: str | None) -> str:
    try:
        messages: list[dict[str, Any]] = json.loads(prompt_json or "[]")
    except ValueError:
        return "<p>(unreadable prompt)</p>"
    parts = [
        f"<h4>{esc(m.get('role', '?'))}</h4><pre>{esc(m.get('content', ''))}</pre>"
        for m in messages
        if isinstance(m, dict)
    ]
    return "".join(parts) or "<p>(no stored prompt: a row older than sink schema 3)</p>"


def window_anchors(window: list[Anchor], cited: list[Anchor]) -> list[Anchor]:
    """The window's anchors in time order; a row older than sink schema 6 stored only the cited ones."""
    have = {a.anchor_id for a in window}
    return sorted([*window, *(a for a in cited if a.anchor_id not in have)], key=lambda a: a.timestamp)


def timeline(source: SourceSpan | None, anchors: list[Anchor], cited: set[str], frames: str = "") -> str:
    """Every anchor of the window at its stream time across the window's span (grey, a span anchor underlined to
    its end), the cited ones red, each labelled with its type; and the cited key frames (`frames`, blue)."""
    start = source.start_time if source else min((a.timestamp for a in anchors), default=0.0)
    end = source.end_time if source else max((a.timestamp for a in anchors), default=1.0)
    span = end - start if end > start else 1.0

    def at(t: float) -> float:
        return 100 * min(max((t - start) / span, 0.0), 1.0)

    ticks = []
    stacked: dict[str, int] = {}  # labels at one position stack downwards instead of overprinting
    for a in anchors:
        left = f"{at(a.timestamp):.2f}"
        kind = "tick anchor cited" if a.anchor_id in cited else "tick anchor"
        width = ""
        if a.end_timestamp is not None and a.end_timestamp > a.timestamp:
            kind += " span"
            width = f";width:{at(a.end_timestamp) - at(a.timestamp):.2f}%"
        title = f"{a.anchor_id} {a.type} t={a.timestamp - start:.2f}s {a.content[:120]}"
        row = stacked[left] = stacked.get(left, -1) + 1
        label = f"<span style='top:{1.4 + 1.1 * row:.1f}em'>{esc(a.type)}</span>"
        ticks.append(f"<div class='{kind}' style='left:{left}%{width}' title='{esc(title)}'>{label}</div>")
    depth = 2.0 + 1.1 * max(stacked.values(), default=0)  # room below for the deepest stack of labels
    return f"<div class='timeline' style='margin-bottom:{depth:.1f}em'>{''.join(ticks)}{frames}</div>"


def example_timeline(stored: StoredExample) -> str:
    ex = stored.example
    start, end = ex.source.start_time, ex.source.end_time
    span = end - start if end > start else 1.0
    frames = "".join(
        f"<div class='tick frame' style='left:{100 * min(max((f.timestamp - start) / span, 0.0), 1.0):.2f}%' "
        f"title='frame {f.frame_index}'></div>"
        for f in ex.frames
    )
    cited = {a.anchor_id for a in ex.cited_anchors}
    return timeline(ex.source, window_anchors(ex.window_anchors, ex.cited_anchors), cited, frames)


def _anchor_rows(anchors: list[Anchor], start: float) -> str:
    return "".join(
        f"<tr><td>{esc(a.anchor_id)}</td><td>{esc(a.type)}</td><td>{a.frame_index}"
        f"{'-' + str(a.end_frame_index) if a.end_frame_index is not None else ''}</td>"
        f"<td>{a.timestamp - start:.2f}</td><td>{esc(a.content)}</td></tr>"
        for a in anchors
    )


_ANCHOR_HEAD = "<tr><th>anchor</th><th>type</th><th>frames</th><th>t (s)</th><th>content</th></tr>"


def _window_table(anchors: list[Anchor], start: float) -> str:
    return (
        f"<details class='window-anchors'><summary>All {len(anchors)} anchors of the window</summary>"
        f"<table>{_ANCHOR_HEAD}{_anchor_rows(anchors, start)}</table></details>"
    )


def _source(src: SourceSpan | None) -> list[tuple[str, str]]:
    if src is None:
        return [("source", "not recorded (a record older than its source span)")]
    return [
        ("source", f"{src.topic} partition {src.partition} offsets {src.first_offset}-{src.last_offset}"),
        ("stream time", f"{src.start_time:.2f} - {src.end_time:.2f} s"),
    ]


def example_page(stored: StoredExample) -> str:
    ex = stored.example
    frames = "".join(
        f"<figure><img src='/frame?{esc(urlencode({'id': ex.example_id, 'n': n}))}' "
        f"alt='key frame {f.frame_index}'><figcaption>frame index {f.frame_index}, "
        f"t = {f.timestamp - ex.source.start_time:.2f} s</figcaption></figure>"
        for n, f in enumerate(ex.frames)
    )
    anchors = _anchor_rows(ex.cited_anchors, ex.source.start_time)
    window = window_anchors(ex.window_anchors, ex.cited_anchors)
    rewards = "".join(f"<tr><td>{esc(k)}</td><td>{v:.4f}</td></tr>" for k, v in sorted(ex.rewards.items()))
    src = ex.source
    facts = [
        ("task family", ex.task_family),
        ("intent", f"{ex.intent_id or '-'}: {ex.intent_text or ''}"),
        ("model / weights version", f"{ex.model} / {ex.weights_version or 'base'}"),
        ("window", ex.window_id),
        *_source(src),
        ("recording / licence", f"{ex.recording or '-'} / {ex.licence or 'unknown'}"),
        ("validators passed", ", ".join(ex.validators) or "-"),
        ("reward floor", "-" if ex.min_reward is None else f"{ex.min_reward:g}"),
        ("frames not embedded", ", ".join(stored.frame_errors) or "none"),
        ("created (UTC)", when(ex.created_at)),
    ]
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    return page(
        ex.example_id,
        f"<p><a href='/'>all examples</a></p><h1>{esc(ex.example_id)}</h1><table>{rows}</table>"
        f"<h2>Output</h2>{_json_block(ex.output_json)}"
        f"<h2>Key frames it cites ({len(ex.frames)})</h2>{frames or '<p>none</p>'}"
        f"<h2>The window's {len(window)} anchors on its timeline, the {len(ex.cited_anchors)} it cites in red"
        f"</h2>{example_timeline(stored)}<table>{_ANCHOR_HEAD}{anchors}</table>"
        f"{_window_table(window, src.start_time)}"
        f"<h2>Rewards</h2><table>{rewards}</table>"
        f"<details><summary>Prompt</summary>{_prompt(ex.prompt_json)}</details>",
    )


def rejected_page(stored: StoredRejection) -> str:
    """One rejected candidate: why it was refused (reason labels and details), its raw output, where it came
    from, its rewards, and its window's anchors on the timeline (none is cited: its output did not pass)."""
    rej = stored.rejected
    src = rej.source
    facts = [
        ("status", "rejected (never training data)"),
        ("rejected because", ", ".join(rej.reasons)),
        ("task family", rej.task_family),
        ("intent", f"{rej.intent_id or '-'}: {rej.intent_text or ''}"),
        ("model / weights version", f"{rej.model} / {rej.weights_version or 'base'}"),
        ("window", rej.window_id),
        *_source(src),
        ("created (UTC)", when(rej.created_at)),
    ]
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    details = "".join(f"<li>{esc(d)}</li>" for d in rej.details) or "<li>-</li>"
    rewards = "".join(f"<tr><td>{esc(k)}</td><td>{v:.4f}</td></tr>" for k, v in sorted(rej.rewards.items()))
    anchors = window_anchors(rej.window_anchors, [])
    start = src.start_time if src else min((a.timestamp for a in anchors), default=0.0)
    return page(
        rej.example_id,
        f"<p><a href='/?status=rejected'>all rejected candidates</a></p><h1>{esc(rej.example_id)}</h1>"
        f"<table>{rows}</table><h2>Why it was rejected</h2>"
        f"<p class='reasons'>{esc(', '.join(rej.reasons))}</p><ul class='details'>{details}</ul>"
        f"<h2>Raw output</h2>{_json_block(rej.raw_output)}"
        f"<h2>The window's {len(anchors)} anchors on its timeline</h2>{timeline(src, anchors, set())}"
        f"{_window_table(anchors, start)}<h2>Rewards</h2><table>{rewards}</table>",
    )


def not_found(what: str) -> str:
    return page("not found", f"<p>{esc(what)} not found. <a href='/'>all examples</a></p>")
