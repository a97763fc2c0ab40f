"""A window's distractors come from the anchors log, not from what the process remembers: a worker that starts
mid-partition (a restart, a rebalance) reads the history back from the broker and chooses what a worker
that saw the whole partition chose, so a redelivered window makes the same prompt and the same example."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from core.dlq import SourcePosition
from core.records import AnchorSet
from streaming.distractors import DistractorPool
from streaming.kafka_clients import aiokafka_kwargs
from streaming.settings import TailorSettings
from streaming.topic_reader import read_range_async
from streaming.topics import ensure_topics
from tests.streaming.test_stage_failures import anchor_set

SIZE, LOOKBACK = 3, 6


def gui(key: str) -> AnchorSet:
    robot = anchor_set(key)
    return robot.model_copy(update={"window_id": f"gui:{key}:0", "domain": "gui"})


def test_a_worker_starting_mid_partition_chooses_the_distractors_of_one_that_saw_it_all(
    settings: TailorSettings,
) -> None:
    bootstrap = settings.kafka_bootstrap
    assert bootstrap
    ensure_topics(settings, settings, bootstrap)
    topic = settings.topic_anchors
    # the partition's log: GUI sessions, a robot window between them, one GUI window twice (an anchor
    # stage that redelivered it) and a message that is not an anchor set
    log: list[bytes] = [gui(f"s{i}").to_bytes() for i in range(4)]
    log += [anchor_set("ep-1").to_bytes(), gui("s2").to_bytes(), b"\xff not json", gui("s4").to_bytes()]
    log += [gui(f"s{i}").to_bytes() for i in range(5, 12)]

    async def go() -> tuple[list[tuple[str, ...]], list[tuple[str, ...]], int]:
        producer = AIOKafkaProducer(**aiokafka_kwargs(settings, bootstrap))
        await producer.start()
        try:
            for value in log:
                await producer.send_and_wait(topic, value, partition=1)
        finally:
            await producer.stop()

        async def read_back(t: str, p: int, start: int, end: int) -> list[tuple[int, bytes | None]]:
            return await read_range_async(settings, t, p, start, end, timeout_s=20)

        whole = DistractorPool(SIZE, LOOKBACK, read_back, settings.max_message_bytes)
        restarted = DistractorPool(SIZE, LOOKBACK, read_back, settings.max_message_bytes)
        seen_all, seen_late = [], []
        for offset, value in enumerate(log):
            if value.startswith(b"\xff"):
                continue  # dead-lettered by the stage before it asks for distractors
            anchors = AnchorSet.from_bytes(value)
            pos = SourcePosition(topic, 1, offset)
            chosen = await whole.before(pos, anchors)
            seen_all.append(tuple(a.window_id for a in chosen))
            if offset >= 9:  # the restarted worker's first message is offset 9
                seen_late.append(tuple(a.window_id for a in await restarted.before(pos, anchors)))
        return seen_all, seen_late, restarted.read_backs

    seen_all, seen_late, read_backs = asyncio.run(go())
    # offsets 0.. in order; offset 6 (not an anchor set) is skipped: index 6 is offset 7
    assert seen_all[0] == ()
    assert seen_all[3] == ("gui:s0:0", "gui:s1:0", "gui:s2:0")
    # offset 5, s2 again: the distractors of its first copy (offset 2), so both copies make one example
    assert seen_all[5] == seen_all[2] == ("gui:s0:0", "gui:s1:0")
    # offset 7 (s4): the robot window is no GUI distractor, s2 on the log twice counts once, the message that
    # is not an anchor set is skipped
    assert seen_all[6] == ("gui:s1:0", "gui:s3:0", "gui:s2:0")
    # the worker that started at offset 9 read back once and chose exactly what the other chose
    assert seen_late == seen_all[-len(seen_late) :]
    assert seen_late[0] and read_backs == 1
