"""Kafka connection settings, passed through to every client (Faust, aiokafka, kafka-python)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaConfig(BaseModel):
    kafka_bootstrap: str | None = Field(
        default=None,
        description="Kafka bootstrap servers (host:port[,host:port]). Unset: start the embedded Tansu broker.",
    )
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", description="Security protocol used by every Kafka client."
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        default=None, description="SASL mechanism; required with SASL_PLAINTEXT / SASL_SSL."
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password (secret).")
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="CA bundle used to verify the brokers with SSL / SASL_SSL."
    )
    kafka_session_timeout_s: float = Field(
        default=6.0,
        gt=0,
        description="Consumer-group session timeout. Short, since the first join waits about half of it.",
    )
    kafka_request_timeout_s: float = Field(default=30.0, gt=0, description="Client request timeout.")

    @model_validator(mode="after")
    def _check_security(self) -> "KafkaConfig":
        proto = self.kafka_security_protocol
        if proto.startswith("SASL"):
            missing = [
                name
                for name, value in (
                    ("kafka_sasl_mechanism", self.kafka_sasl_mechanism),
                    ("kafka_sasl_username", self.kafka_sasl_username),
                    ("kafka_sasl_password", self.kafka_sasl_password),
                )
                if value is None
            ]
            if missing:
                raise ValueError(f"{proto} needs {', '.join(missing)}")
        if self.kafka_ssl_cafile is not None and not self.kafka_ssl_cafile.is_file():
            raise ValueError(f"kafka_ssl_cafile {self.kafka_ssl_cafile} is not a readable file")
        if proto == "PLAINTEXT" and self.kafka_sasl_password is not None:
            raise ValueError("kafka_sasl_password is set but kafka_security_protocol is PLAINTEXT")
        return self
