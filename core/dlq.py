"""Dead-letter records: what failed, why, and where it came from."""

from __future__ import annotations

import time
from dataclasses import dataclass

from core.records import DeadLetter


@dataclass(frozen=True)
class SourcePosition:
    topic: str
    partition: int
    offset: int


def dead_letter(
    *,
    reason: str,
    detail: str,
    stage: str,
    source: SourcePosition,
    key: bytes | None,
    value: bytes | None,
    worker: str,
    payload_cap: int,
) -> DeadLetter:
    payload = value or b""
    return DeadLetter(
        reason=reason[:100],
        detail=detail[:2000],
        stage=stage,
        source_topic=source.topic,
        source_partition=source.partition,
        source_offset=source.offset,
        key=key[:1024] if key else None,
        payload=payload[:payload_cap],
        payload_size=len(payload),
        truncated=len(payload) > payload_cap,
        worker=worker,
        created_at=time.time(),
    )
