"""Settings of `tailor dataset push`: where a dataset and its card go (a hub repository or a local folder)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class PushConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    private: bool = Field(
        default=True, description="Create the hub repository private (if it does not exist)."
    )
    revision: str | None = Field(
        default=None, max_length=200, description="Hub branch to push to (default main)."
    )
    commit_message: str = Field(
        default="Tailor dataset: examples and card", max_length=500, description="The hub commit's message."
    )
    token: SecretStr | None = Field(
        default=None, description="Hub token; unset: huggingface_hub's own (HF_TOKEN, `hf auth login`)."
    )
