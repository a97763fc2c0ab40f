"""Client keyword arguments derived from a KafkaConfig, one function per client library."""

from __future__ import annotations

import ssl
from typing import Any

from streaming.kafka_config import KafkaConfig


def _ssl_context(cfg: KafkaConfig) -> ssl.SSLContext | None:
    if "SSL" not in cfg.kafka_security_protocol:
        return None
    ctx = ssl.create_default_context(cafile=str(cfg.kafka_ssl_cafile) if cfg.kafka_ssl_cafile else None)
    return ctx


def aiokafka_kwargs(cfg: KafkaConfig, bootstrap: str) -> dict[str, Any]:
    """Keyword arguments for aiokafka producers, consumers and admin clients."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "security_protocol": cfg.kafka_security_protocol,
        "request_timeout_ms": int(cfg.kafka_request_timeout_s * 1000),
        "retry_backoff_ms": int(cfg.kafka_retry_backoff_s * 1000),
    }
    ctx = _ssl_context(cfg)
    if ctx is not None:
        kwargs["ssl_context"] = ctx
    if cfg.kafka_security_protocol.startswith("SASL"):
        assert cfg.kafka_sasl_password is not None
        kwargs.update(
            sasl_mechanism=cfg.kafka_sasl_mechanism,
            sasl_plain_username=cfg.kafka_sasl_username,
            sasl_plain_password=cfg.kafka_sasl_password.get_secret_value(),
        )
    return kwargs


def kafka_python_kwargs(cfg: KafkaConfig, bootstrap: str) -> dict[str, Any]:
    """Keyword arguments for kafka-python clients (producer helper, admin, replay)."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": bootstrap.split(","),
        "security_protocol": cfg.kafka_security_protocol,
        "request_timeout_ms": int(cfg.kafka_request_timeout_s * 1000),
        "retry_backoff_ms": int(cfg.kafka_retry_backoff_s * 1000),
        "reconnect_backoff_max_ms": int(cfg.kafka_reconnect_backoff_max_s * 1000),
    }
    if cfg.kafka_ssl_cafile is not None:
        kwargs["ssl_cafile"] = str(cfg.kafka_ssl_cafile)
    if cfg.kafka_security_protocol.startswith("SASL"):
        assert cfg.kafka_sasl_password is not None
        kwargs.update(
            sasl_mechanism=cfg.kafka_sasl_mechanism,
            sasl_plain_username=cfg.kafka_sasl_username,
            sasl_plain_password=cfg.kafka_sasl_password.get_secret_value(),
        )
    return kwargs


def faust_broker_kwargs(cfg: KafkaConfig, bootstrap: str) -> dict[str, Any]:
    """Keyword arguments for faust.App: broker URL and credentials."""
    import faust

    kwargs: dict[str, Any] = {"broker": ";".join(f"kafka://{b}" for b in bootstrap.split(","))}
    ctx = _ssl_context(cfg)
    if cfg.kafka_security_protocol.startswith("SASL"):
        assert cfg.kafka_sasl_password is not None and cfg.kafka_sasl_mechanism is not None
        kwargs["broker_credentials"] = faust.SASLCredentials(
            username=cfg.kafka_sasl_username,
            password=cfg.kafka_sasl_password.get_secret_value(),
            mechanism=cfg.kafka_sasl_mechanism,
            ssl_context=ctx,
        )
    elif ctx is not None:
        kwargs["broker_credentials"] = faust.SSLCredentials(ctx)
    return kwargs
