"""`tailor anchors`: a window's anchors and key frames, read back from the anchors topic."""

from __future__ import annotations

from core.records import AnchorSet
from streaming.settings import TailorSettings
from streaming.topic_reader import read_topic


def find_anchor_sets(
    settings: TailorSettings, window: str | None = None, stream: str | None = None
) -> list[AnchorSet]:
    """The anchor sets on the topic of one window, or of one stream (session, episode) in window order; every
    one when neither is given. A window anchored twice (a redelivery) is shown once, its latest copy."""
    latest: dict[str, AnchorSet] = {}
    for a in read_topic(settings, settings.topic_anchors, AnchorSet):
        if (window is None or a.window_id == window) and (stream is None or a.key == stream):
            latest[a.window_id] = a
    return sorted(latest.values(), key=lambda a: (a.key, a.span.first_offset, a.window_id))


def show_anchors(settings: TailorSettings, window: str | None, stream: str | None) -> int:
    """Print the matching windows (a summary of each, or every anchor and key frame of one); the count."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(width=200)
    sets = find_anchor_sets(settings, window, stream)
    if not sets:
        return 0
    if window is None and stream is None:  # everything: one line per window
        table = Table(title="Windows on the anchors topic (tailor anchors --window ID for one)")
        for col in ("window", "domain", "frames", "anchors", "key frames", "instruction"):
            table.add_column(col)
        for a in sets:
            table.add_row(
                *map(
                    Text,
                    (
                        a.window_id,
                        a.domain,
                        str(a.num_frames),
                        str(len(a.anchors)),
                        str(len(a.key_frames)),
                        a.instruction or "",
                    ),
                )
            )
        console.print(table)
        return len(sets)
    for a in sets:
        span = a.span
        console.print(
            Text(
                f"{a.window_id}  ({a.domain}, {a.num_frames} frames, {span.start_time:.2f}-{span.end_time:.2f} s, "
                f"{span.topic}/{span.partition} offsets {span.first_offset}-{span.last_offset})"
                + (f"\ninstruction: {a.instruction}" if a.instruction else "")
            )
        )
        anchors = Table(title="Anchors")
        for col in ("frame", "end", "type", "content", "value", "id"):
            anchors.add_column(col)
        for x in sorted(a.anchors, key=lambda x: (x.frame_index, x.type)):
            end = "" if x.end_frame_index is None else str(x.end_frame_index)
            value = "" if x.value is None else f"{x.value:.3g}"
            anchors.add_row(*map(Text, (str(x.frame_index), end, x.type, x.content[:80], value, x.anchor_id)))
        console.print(anchors)
        frames = Table(title="Key frames (role cited: stored because an example cites it)")
        for col in ("frame", "time", "role", "uri"):
            frames.add_column(col)
        for k in a.key_frames:
            frames.add_row(*map(Text, (str(k.frame_index), f"{k.timestamp:.2f}", k.role, k.uri)))
        console.print(frames)
    return len(sets)
