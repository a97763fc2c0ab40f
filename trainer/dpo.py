"""DPO on preference pairs (TRL `DPOTrainer`, LoRA by default).

With LoRA the reference model is the base model with the adapter disabled (TRL does this itself), so no
second copy is loaded; a continued adapter gets a frozen copy of itself as reference (TRL's "ref" adapter,
not saved). A full fine-tune loads the reference model explicitly (TRL cannot reload one by name for a
model it did not load itself).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.preferences import PreferencePair
from trainer.train_base import TrainError, TrainResult, TrainRun
from trainer.train_config import TrainConfig

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer

log = logging.getLogger(__name__)


class DpoRun(TrainRun):
    method = "dpo"
    tracked = ("rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected")

    def trl_config_class(self) -> type[Any]:
        from trl import DPOConfig

        return DPOConfig

    def make_trainer(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        args: Any,
        dataset: Dataset,
        peft_config: Any,
        base_model_dir: Path,
    ) -> Trainer:
        from trl import DPOTrainer

        if "images" in dataset.column_names and args.truncation_mode == "keep_end":
            # TRL refuses keep_end with images (their tokens sit in the prompt); the prompts fit max_length
            args.truncation_mode = "keep_start"
        ref_model = None
        if self.config.full_finetune:
            from agents.model_cache import load_model

            ref_model, _ = load_model(base_model_dir, dtype=self.config.dtype)
        return DPOTrainer(
            model=model,
            ref_model=ref_model,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=peft_config,
        )


def pairs_dataset(pairs: Sequence[PreferencePair]) -> Dataset:
    from datasets import Dataset

    return Dataset.from_list(
        [
            {k: v for k, v in p.to_trl().items() if k in ("prompt", "chosen", "rejected", "images")}
            for p in pairs
        ]
    )


def run_dpo(
    base_model_dir: Path,
    pairs: Sequence[PreferencePair],
    config: TrainConfig | None,
    out_dir: Path,
    init_adapter: Path | None = None,
) -> TrainResult:
    """Train DPO on `pairs`; the weights go to `out_dir/adapter` (safetensors only)."""
    cfg = config or TrainConfig()
    if not pairs:
        raise TrainError("no_data", "DPO needs at least one preference pair")
    used = list(pairs)[: cfg.max_items]
    if len(used) < len(pairs):
        log.warning("DPO: using %d of %d pairs (max_items)", len(used), len(pairs))
    trained_on = list(dict.fromkeys(i for p in used for i in (p.chosen_id, p.rejected_id)))
    return DpoRun(cfg).run(Path(base_model_dir), pairs_dataset(used), trained_on, Path(out_dir), init_adapter)
