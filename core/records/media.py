"""Media payloads: inline bytes up to a cap, or a claim-check URI with its hash."""

from __future__ import annotations

import hashlib
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

SHA256_PATTERN = r"^[0-9a-f]{64}$"


class MediaRef(BaseModel):
    """Exactly one of `data` (inline, base64 on the wire) or `uri` (claim check) is set."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")

    media_type: str = Field(max_length=100, description="MIME type, e.g. video/mp4, image/png, image/jpeg.")
    data: bytes | None = Field(default=None, description="Inline bytes (base64 in JSON).")
    uri: str | None = Field(default=None, max_length=2048, description="Claim-check URI of the bytes.")
    sha256: str | None = Field(default=None, pattern=SHA256_PATTERN, description="sha256 of the bytes.")
    size_bytes: int = Field(ge=0, description="Size of the bytes.")
    width: int | None = Field(default=None, ge=0, description="Declared width in pixels (images, video).")
    height: int | None = Field(default=None, ge=0, description="Declared height in pixels.")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.data is None) == (self.uri is None):
            raise ValueError("exactly one of data or uri must be set")
        if self.data is not None and len(self.data) != self.size_bytes:
            raise ValueError(f"size_bytes {self.size_bytes} does not match {len(self.data)} inline bytes")
        if self.uri is not None and self.sha256 is None:
            raise ValueError("a uri needs its sha256")
        return self

    @classmethod
    def inline(
        cls, data: bytes, media_type: str, width: int | None = None, height: int | None = None
    ) -> Self:
        return cls(
            media_type=media_type,
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
            width=width,
            height=height,
        )
