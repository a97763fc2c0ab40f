"""Kafka connection settings, passed through to every client (Faust, aiokafka, kafka-python)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]


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
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name (PLAIN, SCRAM).")
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (secret; PLAIN, SCRAM)."
    )
    kafka_sasl_oauth_token_url: str | None = Field(
        default=None,
        description="OAUTHBEARER: the OAuth 2 token endpoint; Tailor asks it for a token with the client "
        "credentials grant (kafka_sasl_oauth_client_id / _client_secret / _scope) and renews the token before it "
        "expires. One of this, kafka_sasl_oauth_token_file or kafka_sasl_oauth_token.",
    )
    kafka_sasl_oauth_client_id: str | None = Field(default=None, description="OAUTHBEARER: OAuth client id.")
    kafka_sasl_oauth_client_secret: SecretStr | None = Field(
        default=None, description="OAUTHBEARER: OAuth client secret (secret)."
    )
    kafka_sasl_oauth_scope: str | None = Field(
        default=None, description="OAUTHBEARER: scope asked for with the client credentials grant (optional)."
    )
    kafka_sasl_oauth_token_file: Path | None = Field(
        default=None,
        description="OAUTHBEARER: a file holding the token, read again at every (re)connection, so whatever "
        "renews it (a projected service-account token, a sidecar) is picked up without a restart.",
    )
    kafka_sasl_oauth_token: SecretStr | None = Field(
        default=None, description="OAUTHBEARER: a fixed token (secret); for short-lived jobs and tests."
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="CA bundle used to verify the brokers with SSL / SASL_SSL."
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None,
        description="mTLS: the client certificate chain (PEM) presented to the brokers with SSL / SASL_SSL.",
    )
    kafka_ssl_keyfile: Path | None = Field(
        default=None,
        description="mTLS: the client certificate's private key (PEM); unset: it is in the certfile.",
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, description="mTLS: password of an encrypted private key (secret)."
    )
    kafka_ssl_check_hostname: bool = Field(
        default=True,
        description="Check that the broker certificate names the host connected to. Turn off only for brokers "
        "reached by an address their certificate does not name; the chain is still verified.",
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
        if proto.startswith("SASL") and self.kafka_sasl_mechanism == "OAUTHBEARER":
            self._check_oauth()
        elif proto.startswith("SASL"):
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
        for name in (
            "kafka_ssl_cafile",
            "kafka_ssl_certfile",
            "kafka_ssl_keyfile",
            "kafka_sasl_oauth_token_file",
        ):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {path} is not a readable file")
        self._check_client_cert()
        if self.kafka_delivery_timeout_s <= self.kafka_request_timeout_s:
            raise ValueError("kafka_delivery_timeout_s must be greater than kafka_request_timeout_s")
        if proto == "PLAINTEXT" and self.kafka_sasl_password is not None:
            raise ValueError("kafka_sasl_password is set but kafka_security_protocol is PLAINTEXT")
        return self

    def _check_oauth(self) -> None:
        sources = [
            name
            for name in (
                "kafka_sasl_oauth_token_url",
                "kafka_sasl_oauth_token_file",
                "kafka_sasl_oauth_token",
            )
            if getattr(self, name) is not None
        ]
        if len(sources) != 1:
            raise ValueError(
                "OAUTHBEARER needs exactly one of kafka_sasl_oauth_token_url, kafka_sasl_oauth_token_file, "
                f"kafka_sasl_oauth_token (set: {', '.join(sources) or 'none'})"
            )
        if self.kafka_sasl_oauth_token_url is not None and (
            self.kafka_sasl_oauth_client_id is None or self.kafka_sasl_oauth_client_secret is None
        ):
            raise ValueError(
                "kafka_sasl_oauth_token_url needs kafka_sasl_oauth_client_id and kafka_sasl_oauth_client_secret"
            )

    def _check_client_cert(self) -> None:
        """A client certificate is used with SSL only, and its key must load (a wrong key password fails here,
        at start-up, naming the setting, not at the first connection)."""
        given = [
            n
            for n in ("kafka_ssl_certfile", "kafka_ssl_keyfile", "kafka_ssl_key_password")
            if getattr(self, n) is not None
        ]
        if not given:
            return
        if "SSL" not in self.kafka_security_protocol:
            raise ValueError(f"{given[0]} is set but kafka_security_protocol has no SSL")
        if self.kafka_ssl_certfile is None:
            raise ValueError(f"{given[0]} is set without kafka_ssl_certfile")
        # "" rather than None: with None OpenSSL would prompt on the terminal for an encrypted key
        password = self.kafka_ssl_key_password.get_secret_value() if self.kafka_ssl_key_password else ""
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(
                self.kafka_ssl_certfile, self.kafka_ssl_keyfile, password
            )
        except ssl.SSLError as exc:
            raise ValueError(
                f"kafka_ssl_certfile / kafka_ssl_keyfile do not load (check kafka_ssl_key_password): {exc}"
            ) from None
