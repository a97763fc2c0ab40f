"""How samples/ was made from the team's ../shared/data (run from the repository root; it only reads there):

    python samples/make_samples.py ../shared/data samples

- robot/bridge: the first 3 episodes of the BridgeData V2 TFRecord, records copied byte for byte (same file
  name, so their episode ids, `<file>:00000` .. `:00002`, are the full file's; episode 2 is a heldout
  recording of the benchmark);
- robot/umi_cup_in_the_wild: the first 40 rows (4 s) of the UMI episode, the arrow stream sliced and the mp4
  cut at a key frame by stream copy (no re-encoding: the frames are the original's); meta_data/info.json only
  (the episode index in meta_data/*.safetensors would describe 400 rows);
- gui/aitw: the AITW episode as it is.
"""

from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

import av
import pyarrow as pa

from streaming.replay.tfrecord import masked_crc32c, read_records

BRIDGE = Path("robot/bridge/bridge_dataset-train.tfrecord-00000-of-00001")
UMI = Path("robot/umi_cup_in_the_wild")
UMI_VIDEO = "videos/observation.image_episode_000000.mp4"
AITW = Path("gui/aitw")
BRIDGE_EPISODES = 3
UMI_ROWS = 40


def bridge(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    records = read_records(src, verify_data_crc=True, max_record_bytes=1 << 28)
    with dest.open("wb") as fh:
        for _, data in zip(range(BRIDGE_EPISODES), records, strict=False):
            length = struct.pack("<Q", len(data))
            fh.write(length + struct.pack("<I", masked_crc32c(length)) + data)
            fh.write(struct.pack("<I", masked_crc32c(data)))


def umi(src: Path, dest: Path) -> None:
    (dest / "meta_data").mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "meta_data" / "info.json", dest / "meta_data" / "info.json")
    (dest / "train").mkdir(exist_ok=True)
    with pa.memory_map(str(src / "train" / "data-00000-of-00001.arrow")) as source:
        table = pa.ipc.open_stream(source).read_all()
    rows = table.slice(0, UMI_ROWS)
    with pa.OSFile(str(dest / "train" / "data-00000-of-00001.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(rows)
    (dest / "videos").mkdir(exist_ok=True)
    _cut_video(src / UMI_VIDEO, dest / UMI_VIDEO, UMI_ROWS)


def _cut_video(src: Path, dest: Path, frames: int) -> None:
    """Packets in decode order up to the first key frame at or after frame `frames`: every frame before it
    decodes, since a key frame starts a group that nothing earlier refers past."""
    with av.open(str(src)) as inp, av.open(str(dest), "w") as out:
        stream = inp.streams.video[0]
        assert stream.average_rate is not None and stream.time_base is not None
        cut_pts = int(frames / stream.average_rate / stream.time_base)
        copy = out.add_stream_from_template(stream)
        for packet in inp.demux(stream):
            if packet.dts is None:
                continue
            if packet.is_keyframe and packet.pts is not None and packet.pts >= cut_pts:
                break
            packet.stream = copy
            out.mux(packet)


def main(shared_data: Path, samples: Path) -> None:
    bridge(shared_data / BRIDGE, samples / BRIDGE)
    umi(shared_data / UMI, samples / UMI)
    if (samples / AITW).exists():
        shutil.rmtree(samples / AITW)
    shutil.copytree(shared_data / AITW, samples / AITW, copy_function=shutil.copyfile)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
