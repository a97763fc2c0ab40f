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
    kafka_retry_backoff_s: float = Field(
        default=0.2,
        gt=0,
        le=30,
        description="Pause before a failed request (metadata, produce, fetch, group coordinator) is retried, in "
        "Tailor's aiokafka and kafka-python clients. Faust's own consumer and producer keep aiokafka's 0.1 s.",
    )
    kafka_reconnect_backoff_max_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="kafka-python clients (producer helper, replay, admin) retry a lost broker connection with "
        "exponential backoff from 50 ms up to this, so a broker that comes back is reconnected within about "
        "this long (the library's own cap is 30 s). aiokafka reconnects on the next request.",
    )
    kafka_delivery_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="Producer helper: a record not acknowledged within this long after send() is reported failed "
        "to the sender (its future and flush() raise); a broker outage shorter than this delays records, "
        "never drops them. Must exceed kafka_request_timeout_s.",
    )
    kafka_producer_linger_ms: float = Field(
        default=5.0,
        ge=0,
        le=1000,
        description="The worker's (Faust) producer waits this long to gather records into one produce request; "
        "0 sends one request per record (the window changelog writes two records per event). Offsets are "
        "committed only after the producer is flushed, so this delays, never loses, state writes.",
    )

    kafka_fetch_max_wait_ms: int = Field(
        default=100,
        ge=1,
        le=30_000,
        description="Longest the worker's (Faust) consumer lets a fetch wait for data. The embedded Tansu "
        "broker holds every empty fetch this long even when data arrives meanwhile, so it adds up to this "
        "much latency per hop (Faust's own value is 1500 ms); with Kafka it only sets how often an idle "
        "consumer polls.",
    )

    @model_validator(mode="after")
    def _check_security(self) -> KafkaConfig:
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
        if self.kafka_delivery_timeout_s <= self.kafka_request_timeout_s:
            raise ValueError("kafka_delivery_timeout_s must be greater than kafka_request_timeout_s")
        if proto == "PLAINTEXT" and self.kafka_sasl_password is not None:
            raise ValueError("kafka_sasl_password is set but kafka_security_protocol is PLAINTEXT")
        return self
