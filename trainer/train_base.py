"""Plumbing shared by the DPO and GRPO runs: load the base model (safetensors, verified), wrap it in LoRA,
load the TRL arguments from their JSON file, train, check the losses, save safetensors only, time it.

Subclasses own the decisions: the dataset rows and the TRL trainer. The saved folder holds exactly
`adapter_model.safetensors` + `adapter_config.json` (LoRA), or `model.safetensors` + `config.json` +
tokenizer files + a model-cache `manifest.json` (full fine-tune, loadable by `agents.model_cache.load_model`).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from core.errors import TailorError
from trainer.train_config import TrainConfig
from trainer.weights import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    FULL_CONFIG,
    FULL_WEIGHTS,
    WeightsError,
    check_safetensors,
    unsafe_weight_files,
)

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

log = logging.getLogger(__name__)

_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
    "generation_config.json",
)


class TrainError(TailorError, RuntimeError):
    """A run that cannot be made or produced unusable weights; `reason` is a short label."""


@dataclass(frozen=True)
class TrainResult:
    method: str  # dpo | grpo
    kind: str  # lora | full
    adapter_dir: Path  # the saved weights folder (the adapter, or the full model)
    steps: int
    loss_start: float | None
    loss_end: float | None
    seconds: float
    trained_on: list[str]  # example (candidate) ids of the training data
    metrics: dict[str, float] = field(default_factory=dict)  # first/last logged figures, e.g. reward_start


def load_trl_args(
    config_class: type[Any], path: Path, overrides: dict[str, Any], output_dir: Path, max_bytes: int
) -> Any:
    """A TRL config (`DPOConfig`, `GRPOConfig`) from a JSON object file plus overrides."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise TrainError("bad_trl_config", f"{path} is {size} bytes > {max_bytes}")
        fields = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainError("bad_trl_config", f"{path}: {exc}") from None
    if not isinstance(fields, dict):
        raise TrainError("bad_trl_config", f"{path} does not hold a JSON object")
    fields.update(overrides)
    fields["output_dir"] = str(output_dir)
    try:
        return config_class(**fields)
    except (TypeError, ValueError) as exc:
        raise TrainError("bad_trl_config", f"{config_class.__name__} from {path.name}: {exc}") from None


def logged(history: list[dict[str, Any]], key: str) -> list[float]:
    return [float(h[key]) for h in history if key in h and isinstance(h[key], (int, float))]


class TrainRun(ABC):
    """One training method on top of the shared plumbing."""

    method: ClassVar[str]
    tracked: ClassVar[tuple[str, ...]] = ()  # logged figures reported as <name>_start / <name>_end

    def __init__(self, config: TrainConfig | None = None) -> None:
        self.config = config or TrainConfig()
        self.vision = False  # set by `load`: the base model takes images

    @abstractmethod
    def trl_config_class(self) -> type[Any]:
        """DPOConfig or GRPOConfig."""

    @abstractmethod
    def make_trainer(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        args: Any,
        dataset: Dataset,
        peft_config: Any,
        base_model_dir: Path,
    ) -> Trainer:
        """The TRL trainer for this method."""

    def run(
        self,
        base_model_dir: Path,
        dataset: Dataset,
        trained_on: list[str],
        out_dir: Path,
        init_adapter: Path | None = None,
    ) -> TrainResult:
        """Train on `dataset` and save the weights to `out_dir/adapter`; `init_adapter` continues a LoRA."""
        import torch

        cfg = self.config
        if len(dataset) == 0:
            raise TrainError("no_data", f"{self.method}: nothing to train on")
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        out_dir = Path(out_dir)
        weights_dir = out_dir / "adapter"
        if weights_dir.exists():
            raise TrainError("output_exists", f"{weights_dir} already exists")
        args = load_trl_args(
            self.trl_config_class(),
            cfg.trl_path(self.method),
            cfg.trl_overrides,
            out_dir / "trl",
            cfg.max_trl_file_bytes,
        )
        model, tokenizer = self.load(base_model_dir, init_adapter)
        peft_config = None if (cfg.full_finetune or init_adapter is not None) else self.lora_config()
        trainer = self.make_trainer(model, tokenizer, args, dataset, peft_config, base_model_dir)
        started = time.perf_counter()
        output = trainer.train()
        seconds = time.perf_counter() - started
        history = list(trainer.state.log_history)
        losses = logged(history, "loss")
        if not losses or not all(math.isfinite(v) for v in losses):
            raise TrainError("non_finite_loss", f"{self.method} losses: {losses[:8]}")
        self.save(trainer.model, tokenizer, base_model_dir, weights_dir)
        shutil.rmtree(out_dir / "trl", ignore_errors=True)
        metrics: dict[str, float] = {}
        for key in self.tracked:
            values = logged(history, key)
            if values:
                name = key.replace("/", "_")
                metrics[f"{name}_start"], metrics[f"{name}_end"] = values[0], values[-1]
        result = TrainResult(
            self.method,
            "full" if cfg.full_finetune else "lora",
            weights_dir,
            int(output.global_step),
            losses[0],
            losses[-1],
            seconds,
            list(trained_on),
            metrics,
        )
        log.info(
            "%s: %d steps in %.1fs, loss %.4f -> %.4f, saved %s",
            self.method,
            result.steps,
            seconds,
            losses[0],
            losses[-1],
            weights_dir,
        )
        return result

    def load(self, base_model_dir: Path, init_adapter: Path | None) -> tuple[Any, Any]:
        """The base model and its tokenizer; for a vision-language model, its processor (TRL then trains on
        rows with images)."""
        from agents.model_cache import ModelCacheError, load_model
        from agents.model_caps import takes_images

        model: Any
        self.vision = takes_images(Path(base_model_dir))
        try:
            if self.vision:
                from agents.vision_model import load_vision_model

                model, tokenizer = load_vision_model(Path(base_model_dir), dtype=self.config.dtype)
            else:
                model, tokenizer = load_model(Path(base_model_dir), dtype=self.config.dtype)
        except ModelCacheError as exc:
            raise TrainError("bad_base_model", str(exc)) from None
        if init_adapter is not None:
            if self.config.full_finetune:
                raise TrainError("bad_config", "init_adapter continues a LoRA; full_finetune is set")
            check_adapter_dir(Path(init_adapter))
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(init_adapter), is_trainable=True)
        text = getattr(tokenizer, "tokenizer", tokenizer)  # a processor's tokenizer
        if text.pad_token is None:
            text.pad_token = text.eos_token
        return model, tokenizer

    def lora_config(self) -> Any:
        from peft import LoraConfig

        lora = self.config.lora
        targets: list[str] | str = list(lora.target_modules)
        if self.vision:
            # the language model's layers only: vLLM serves LoRA on the text model of a VLM, not on its vision
            # tower (whose attention layers have the same names)
            names = "|".join(lora.target_modules)
            targets = rf".*(text_model|language_model)\.layers\.\d+\..*\.({names})"
        return LoraConfig(
            r=lora.rank,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=targets,
            bias="none",
            task_type="CAUSAL_LM",
        )

    def save(self, model: Any, tokenizer: Any, base_model_dir: Path, weights_dir: Path) -> None:
        import torch

        bad = [
            n for n, p in model.named_parameters() if p.requires_grad and not bool(torch.isfinite(p).all())
        ]
        if bad:
            raise TrainError("non_finite_weights", f"{len(bad)} trained tensors, e.g. {bad[0]}")
        tmp = weights_dir.with_name(weights_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        if self.config.full_finetune:
            save_full(model, tokenizer, Path(base_model_dir), tmp)
            keep = {FULL_WEIGHTS, FULL_CONFIG}
        else:
            model.save_pretrained(str(tmp), safe_serialization=True, selected_adapters=["default"])
            keep = {ADAPTER_WEIGHTS, ADAPTER_CONFIG}
            for path in tmp.iterdir():  # README.md, other adapters (TRL's "ref" copy): not part of the update
                if path.name not in keep:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        for name in keep:
            if not (tmp / name).is_file():
                raise TrainError("save_failed", f"{name} missing after saving to {tmp}")
        for name in keep & {FULL_WEIGHTS, ADAPTER_WEIGHTS}:
            check_safetensors(tmp / name)
        if unsafe_weight_files(tmp):
            raise TrainError("save_failed", f"pickle-format files written to {tmp}")
        tmp.rename(weights_dir)


def save_full(model: Any, tokenizer: Any, base_model_dir: Path, out: Path) -> None:
    """A full model folder that `agents.model_cache.load_model` verifies and loads."""
    import transformers

    from agents.model_cache import MANIFEST_NAME, Manifest, hash_folder, read_manifest

    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    for name in _TOKENIZER_FILES:
        if (base_model_dir / name).is_file() and not (out / name).exists():
            shutil.copy2(base_model_dir / name, out / name)
    if not (out / FULL_CONFIG).is_file() or not (out / FULL_WEIGHTS).is_file():
        raise TrainError("save_failed", f"a full model must be one {FULL_WEIGHTS} with {FULL_CONFIG}")
    base = read_manifest(base_model_dir)
    manifest = Manifest(
        model_name=f"{base.model_name}-tuned",
        source_file=base.source_file,
        source_sha256=base.source_sha256,
        dtype=str(model.dtype).removeprefix("torch."),
        transformers_version=str(transformers.__version__),
        files=hash_folder(out),
    )
    (out / MANIFEST_NAME).write_text(json.dumps(manifest.model_dump(), indent=2) + "\n")


def check_adapter_dir(folder: Path) -> None:
    """A LoRA folder that may be loaded: the safetensors adapter and its config, nothing pickle-based."""
    unsafe = unsafe_weight_files(folder) if folder.is_dir() else []
    if unsafe:
        raise WeightsError("unsafe_format", f"{folder} holds {unsafe[0].name}")
    if not (folder / ADAPTER_WEIGHTS).is_file() or not (folder / ADAPTER_CONFIG).is_file():
        raise WeightsError("missing_file", f"{folder} lacks {ADAPTER_WEIGHTS} or {ADAPTER_CONFIG}")
    check_safetensors(folder / ADAPTER_WEIGHTS)
