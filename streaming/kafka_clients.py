"""Client keyword arguments derived from a KafkaConfig: the one place that turns the security settings (TLS
with an optional client certificate, SASL PLAIN / SCRAM / OAUTHBEARER) into what each client library takes.
Every Kafka client Tailor makes (kafka-python producer, consumer and admin; aiokafka consumers and producers;
the Faust app) is built from one of the three functions below.

TLS is one `ssl.SSLContext` built here (CA, client certificate and key, hostname check) and handed to all three
libraries, so they verify and present the same certificates."""

from __future__ import annotations

import ssl
from typing import Any

from streaming.kafka_config import KafkaConfig


def ssl_context(cfg: KafkaConfig) -> ssl.SSLContext | None:
    """The TLS context of SSL / SASL_SSL (None otherwise): the CA bundle (default: the system's), the client
    certificate for mTLS, hostname checking per `kafka_ssl_check_hostname`."""
    if "SSL" not in cfg.kafka_security_protocol:
        return None
    ctx = ssl.create_default_context(cafile=str(cfg.kafka_ssl_cafile) if cfg.kafka_ssl_cafile else None)
    ctx.check_hostname = cfg.kafka_ssl_check_hostname
    if cfg.kafka_ssl_certfile is not None:
        password = cfg.kafka_ssl_key_password.get_secret_value() if cfg.kafka_ssl_key_password else ""
        ctx.load_cert_chain(cfg.kafka_ssl_certfile, cfg.kafka_ssl_keyfile, password)
    return ctx


def _sasl(cfg: KafkaConfig, library: str) -> dict[str, Any]:
    if not cfg.kafka_security_protocol.startswith("SASL"):
        return {}
    if cfg.kafka_sasl_mechanism == "OAUTHBEARER":
        from streaming.kafka_oauth import aiokafka_provider, kafka_python_provider

        provider = kafka_python_provider(cfg) if library == "kafka-python" else aiokafka_provider(cfg)
        return {"sasl_mechanism": "OAUTHBEARER", "sasl_oauth_token_provider": provider}
    assert cfg.kafka_sasl_password is not None
    return {
        "sasl_mechanism": cfg.kafka_sasl_mechanism,
        "sasl_plain_username": cfg.kafka_sasl_username,
        "sasl_plain_password": cfg.kafka_sasl_password.get_secret_value(),
    }


def aiokafka_kwargs(cfg: KafkaConfig, bootstrap: str) -> dict[str, Any]:
    """Keyword arguments for aiokafka producers, consumers and admin clients."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "security_protocol": cfg.kafka_security_protocol,
        "request_timeout_ms": int(cfg.kafka_request_timeout_s * 1000),
        "retry_backoff_ms": int(cfg.kafka_retry_backoff_s * 1000),
    }
    ctx = ssl_context(cfg)
    if ctx is not None:
        kwargs["ssl_context"] = ctx
    kwargs.update(_sasl(cfg, "aiokafka"))
    return kwargs


def kafka_python_kwargs(cfg: KafkaConfig, bootstrap: str) -> dict[str, Any]:
    """Keyword arguments for kafka-python clients (producer helper, admin, replay, the trainer lease)."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": bootstrap.split(","),
        "security_protocol": cfg.kafka_security_protocol,
        "request_timeout_ms": int(cfg.kafka_request_timeout_s * 1000),
        "retry_backoff_ms": int(cfg.kafka_retry_backoff_s * 1000),
        "reconnect_backoff_max_ms": int(cfg.kafka_reconnect_backoff_max_s * 1000),
    }
    ctx = ssl_context(cfg)
    if ctx is not None:
        kwargs["ssl_context"] = (
            ctx  # kafka-python then ignores its own ssl_cafile / certfile / keyfile options
        )
    kwargs.update(_sasl(cfg, "kafka-python"))
    return kwargs


def faust_broker_kwargs(cfg: KafkaConfig, bootstrap: str) -> dict[str, Any]:
    """Keyword arguments for faust.App: broker URL and credentials (Faust's aiokafka transport turns them into
    the same aiokafka arguments as `aiokafka_kwargs`)."""
    import faust

    kwargs: dict[str, Any] = {"broker": ";".join(f"kafka://{b}" for b in bootstrap.split(","))}
    ctx = ssl_context(cfg)
    sasl = _sasl(cfg, "aiokafka")
    if cfg.kafka_sasl_mechanism == "OAUTHBEARER" and sasl:
        kwargs["broker_credentials"] = faust.OAuthCredentials(
            oauth_cb=sasl["sasl_oauth_token_provider"], ssl_context=ctx
        )
    elif sasl:
        kwargs["broker_credentials"] = faust.SASLCredentials(
            username=sasl["sasl_plain_username"],
            password=sasl["sasl_plain_password"],
            mechanism=sasl["sasl_mechanism"],
            ssl_context=ctx,
        )
    elif ctx is not None:
        kwargs["broker_credentials"] = faust.SSLCredentials(ctx)
    return kwargs
