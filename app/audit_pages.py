"""The audit page's HTML, rendered on the server. Every text from the data goes through `esc` (and every
URL parameter through `quote`): intents, outputs, prompts and anchor contents are arbitrary user and model
text. The pages load nothing but their own frames (the server's Content-Security-Policy says so too)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import urlencode

from app.audit_index import FILTERS, AuditIndex, facets
from streaming.sinks.reader import StoredExample

_STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
pre{white-space:pre-wrap;background:#f6f6f6;padding:6px;max-width:100em}
figure{display:inline-block;margin:4px}img{max-width:320px;max-height:320px;border:1px solid #999}
.timeline{position:relative;height:3.2em;border-bottom:2px solid #555;margin:1em 0 6em 0;max-width:60em}
.tick{position:absolute;bottom:0;border-left:2px solid #c33;height:1.2em}
.tick span{position:absolute;font-size:11px;white-space:nowrap}
.frame{border-left-color:#36c;height:2.2em}
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


def list_page(index: AuditIndex, wanted: dict[str, str], limit: int) -> str:
    choices = index.choices()
    selects = []
    for key in FILTERS:
        options = [f"<option value=''>any {esc(_LABELS[key])}</option>"]
        for value in choices[key]:
            chosen = " selected" if wanted.get(key) == value else ""
            options.append(f"<option value='{esc(value)}'{chosen}>{esc(value)}</option>")
        selects.append(f"<select name='{key}'>{''.join(options)}</select>")
    picked = list(index.select(wanted))
    rows = []
    for stored in picked[:limit]:
        ex, got = stored.example, facets(stored)
        rows.append(
            "<tr>"
            f"<td><a href='{esc(example_link(ex.example_id))}'>{esc(ex.example_id)}</a></td>"
            f"<td>{esc(got['family'])}</td><td>{esc(got['domain'])}</td>"
            f"<td>{esc(got['intent'])}: {esc((ex.intent_text or '')[:120])}</td>"
            f"<td>{esc(ex.model)} / {esc(got['version'])}</td>"
            f"<td>{ex.rewards.get('r_total', float('nan')):.3f}</td>"
            f"<td>{esc(ex.recording or '-')}</td><td>{esc(when(ex.created_at))}</td></tr>"
        )
    shown = f"{min(len(picked), limit)} of {len(picked)} matching ({len(index.examples)} in the dataset)"
    return page(
        "Tailor audit",
        f"<h1>Examples in {esc(index.root.name)}</h1>"
        f"<form method='get' action='/'>{''.join(selects)} <button>filter</button></form>"
        f"<p>{shown}. Every row here was accepted (rejected candidates are on the rejected topic).</p>"
        "<table><tr><th>example</th><th>family</th><th>domain</th><th>intent</th><th>model / weights</th>"
        f"<th>r_total</th><th>recording</th><th>created (UTC)</th></tr>{''.join(rows)}</table>",
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


def timeline(stored: StoredExample) -> str:
    """The cited anchors (red) and key frames (blue) at their stream times across the window's span."""
    ex = stored.example
    start, end = ex.source.start_time, ex.source.end_time
    span = end - start if end > start else 1.0
    ticks = []
    stacked: dict[str, int] = {}  # labels at one position stack downwards instead of overprinting
    for a in ex.cited_anchors:
        left = f"{100 * min(max((a.timestamp - start) / span, 0.0), 1.0):.2f}"
        row = stacked[left] = stacked.get(left, -1) + 1
        ticks.append(
            f"<div class='tick' style='left:{left}%'><span style='top:{1.4 + 1.1 * row:.1f}em'>"
            f"{esc(a.type)}</span></div>"
        )
    for f in ex.frames:
        at = f"{100 * min(max((f.timestamp - start) / span, 0.0), 1.0):.2f}"
        ticks.append(f"<div class='tick frame' style='left:{at}%' title='frame {f.frame_index}'></div>")
    return f"<div class='timeline'>{''.join(ticks)}</div>"


def example_page(stored: StoredExample) -> str:
    ex = stored.example
    frames = "".join(
        f"<figure><img src='/frame?{esc(urlencode({'id': ex.example_id, 'n': n}))}' "
        f"alt='key frame {f.frame_index}'><figcaption>frame index {f.frame_index}, "
        f"t = {f.timestamp - ex.source.start_time:.2f} s</figcaption></figure>"
        for n, f in enumerate(ex.frames)
    )
    anchors = "".join(
        f"<tr><td>{esc(a.anchor_id)}</td><td>{esc(a.type)}</td><td>{a.frame_index}"
        f"{'-' + str(a.end_frame_index) if a.end_frame_index is not None else ''}</td>"
        f"<td>{a.timestamp - ex.source.start_time:.2f}</td><td>{esc(a.content)}</td></tr>"
        for a in ex.cited_anchors
    )
    rewards = "".join(f"<tr><td>{esc(k)}</td><td>{v:.4f}</td></tr>" for k, v in sorted(ex.rewards.items()))
    src = ex.source
    facts = [
        ("task family", ex.task_family),
        ("intent", f"{ex.intent_id or '-'}: {ex.intent_text or ''}"),
        ("model / weights version", f"{ex.model} / {ex.weights_version or 'base'}"),
        ("window", ex.window_id),
        ("source", f"{src.topic} partition {src.partition} offsets {src.first_offset}-{src.last_offset}"),
        ("stream time", f"{src.start_time:.2f} - {src.end_time:.2f} s"),
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
        f"<h2>Anchors it cites ({len(ex.cited_anchors)}) on the window's timeline</h2>{timeline(stored)}"
        "<table><tr><th>anchor</th><th>type</th><th>frames</th><th>t (s)</th><th>content</th></tr>"
        f"{anchors}</table>"
        f"<h2>Rewards</h2><table>{rewards}</table>"
        f"<details><summary>Prompt</summary>{_prompt(ex.prompt_json)}</details>",
    )


def not_found(what: str) -> str:
    return page("not found", f"<p>{esc(what)} not found. <a href='/'>all examples</a></p>")
