"""Settings of the trainer service (`tailor trainer`) and `tailor train --once`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TrainerConfig(BaseModel):
    train_method: Literal["dpo", "grpo", "sft"] = Field(
        default="dpo",
        description="Method of a round: preference RL (dpo, grpo) or supervised (sft) on validated examples.",
    )
    train_every_pairs: int = Field(
        default=32, gt=0, description="The service runs a round once this many new pairs exist."
    )
    train_every_s: float = Field(
        default=1800.0, gt=0, description="...or at least this often when any pair exists."
    )
    train_poll_s: float = Field(
        default=30.0, gt=0, description="How often the service looks for new candidates."
    )
    trainer_lease_topic: str = Field(
        default="tailor.trainer.lease",
        description="One-partition topic whose consumer group (`<app_id>-trainer-lease`) elects the one trainer "
        "that runs rounds: the member assigned its partition holds the lease; a standby takes over when the holder "
        "leaves or, killed or cut off, misses heartbeats for kafka_session_timeout_s.",
    )
    train_max_steps: int = Field(default=8, gt=0, description="Optimizer steps per DPO/GRPO round.")
    sft_min_examples: int = Field(
        default=64,
        gt=0,
        description="The service's warm start: while no adapter is published, an SFT round runs once this many "
        "accepted examples are on the examples topic.",
    )
    sft_references: bool = Field(
        default=True,
        description="Add the benchmark's dev-split references (validated; never a heldout recording) to the SFT rows.",
    )
    sft_accepted: bool = Field(
        default=True,
        description="Add the accepted examples on the examples topic (the rules backend's and the model's own) "
        "to the SFT rows.",
    )
    sft_rules_teacher: bool = Field(
        default=True,
        description="Add the rules backend's answer to every job the stream synthesised (window, intent, family) "
        "to the SFT rows: a teacher that scores above the untrained model, also when a model serves the stream.",
    )
    pair_sources: Literal["model", "all"] = Field(
        default="model",
        description="Candidates a DPO/GRPO round pairs. model: only outputs of a served model, so both texts of a "
        "pair are what the policy itself wrote (the rules backend's outputs teach through the SFT warm start); "
        "all: rules outputs too (a pair may then set a rules text against a model text).",
    )
    sft_max_steps: int = Field(
        default=-1, description="Optimizer steps of an SFT round; -1: the epochs of trainer/configs/sft.json."
    )
    gate_margin: float = Field(
        default=0.0,
        description="Publish when the mean per-case gain on the whole heldout split is > 0 and its paired "
        "bootstrap 95% interval's lower bound is >= -margin (negative: demand an improvement of |margin|).",
    )
    gate_metric: Literal["s_accepted", "s_total"] = Field(
        default="s_accepted",
        description="The per-case benchmark score the gate compares: s_accepted (s_total, 0 when the validators "
        "reject the output: what the pipeline keeps) or s_total.",
    )
    gate_backend: Literal["auto", "hf", "vllm"] = Field(
        default="auto",
        description="Where the gate runs the held-out benchmark: `vllm` loads the candidate adapter into the "
        "running server (TAILOR_VLLM_URL; JSON-schema structured output, as the workers generate), `hf` runs it "
        "in process without constrained decoding; `auto` = vllm when a server URL is set, else hf.",
    )
    gate_max_new_tokens: int = Field(default=192, gt=0, description="Completion tokens per gate case.")
    probe_enabled: bool = Field(
        default=True, description="Run the downstream probe and publish its feedback."
    )
    probe_examples: int = Field(default=16, gt=0, description="Accepted examples the probe scores per round.")
    probe_method: Literal["student", "gradient"] = Field(
        default="student",
        description="student: train a copy of the base model on batches of accepted examples and publish how much "
        "its loss on other recordings' dev references drops (batch_metric heldout_loss_drop); gradient: the "
        "cheaper TracIn-style cosine of each example's gradient with the references' (example_utility), which "
        "says how alike an example is to them, not whether training on it helps.",
    )
