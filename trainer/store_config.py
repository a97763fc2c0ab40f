"""Settings of the model store (versioned safetensors weights, local or on an fsspec filesystem)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class StoreConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cache_dir: Path | None = Field(
        default=None,
        description="Where weights of a remote (non-local) store are downloaded and verified before use; "
        "None: a folder `tailor-model-store` in the system temp directory.",
    )
    max_file_bytes: int = Field(
        default=20 << 30, gt=0, description="Files larger than this are refused (publish and resolve)."
    )
    max_files: int = Field(default=16, gt=0, description="Most files one version folder may hold.")
    max_manifest_bytes: int = Field(default=1 << 20, gt=0, description="Larger manifests are refused.")
