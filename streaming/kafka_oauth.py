"""SASL/OAUTHBEARER tokens for the Kafka clients: one token source per settings, wrapped for kafka-python
(synchronous `token()`) and for aiokafka and Faust (asynchronous `token()`).

Where the token comes from (exactly one, `KafkaConfig._check_oauth`):
- an OAuth 2 token endpoint, client credentials grant (what Confluent Cloud, Aiven, Redpanda Cloud, Strimzi
  with Keycloak and other OIDC-backed clusters accept); the token is cached and renewed `RENEW_BEFORE_S`
  before `expires_in` runs out, so reconnects do not each ask the endpoint;
- a token file, read at every call (a projected Kubernetes service-account token or a sidecar renews it);
- a fixed token.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.parse
import urllib.request
from typing import Any

from core.errors import TailorError
from streaming.kafka_config import KafkaConfig

RENEW_BEFORE_S = 60.0
DEFAULT_LIFETIME_S = 300.0  # when the endpoint does not say (expires_in is optional in RFC 6749)


class OAuthTokenError(TailorError, RuntimeError):
    """The token endpoint refused (reason `oauth_token_refused`) or answered no token (`oauth_no_token`)."""


class OAuthTokenSource:
    def __init__(self, cfg: KafkaConfig, timeout_s: float = 10.0) -> None:
        self.cfg, self.timeout_s = cfg, timeout_s
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.fetches = 0

    def token(self) -> str:
        cfg = self.cfg
        if cfg.kafka_sasl_oauth_token is not None:
            return cfg.kafka_sasl_oauth_token.get_secret_value()
        if cfg.kafka_sasl_oauth_token_file is not None:
            return cfg.kafka_sasl_oauth_token_file.read_text(encoding="utf-8").strip()
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at - RENEW_BEFORE_S:
                self._token, lifetime = self._fetch()
                self._expires_at = time.monotonic() + lifetime
            return self._token

    def _fetch(self) -> tuple[str, float]:
        cfg = self.cfg
        assert cfg.kafka_sasl_oauth_token_url and cfg.kafka_sasl_oauth_client_id
        assert cfg.kafka_sasl_oauth_client_secret is not None
        form = {
            "grant_type": "client_credentials",
            "client_id": cfg.kafka_sasl_oauth_client_id,
            "client_secret": cfg.kafka_sasl_oauth_client_secret.get_secret_value(),
        }
        if cfg.kafka_sasl_oauth_scope:
            form["scope"] = cfg.kafka_sasl_oauth_scope
        request = urllib.request.Request(
            cfg.kafka_sasl_oauth_token_url,
            data=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        self.fetches += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                body = json.loads(resp.read())
        except (OSError, ValueError) as exc:  # HTTPError, URLError and timeouts are OSErrors
            raise OAuthTokenError(
                "oauth_token_refused", f"token endpoint {cfg.kafka_sasl_oauth_token_url}: {exc}"
            ) from exc
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise OAuthTokenError(
                "oauth_no_token", f"token endpoint {cfg.kafka_sasl_oauth_token_url} returned no access_token"
            )
        lifetime = body.get("expires_in", DEFAULT_LIFETIME_S)
        return token, float(lifetime) if isinstance(lifetime, (int, float)) else DEFAULT_LIFETIME_S


_SOURCES: dict[tuple[Any, ...], OAuthTokenSource] = {}
_SOURCES_LOCK = threading.Lock()


def token_source(cfg: KafkaConfig) -> OAuthTokenSource:
    """One source per token origin, shared by every client of the process (one cached token, not one per
    producer, consumer and admin client)."""
    secret = cfg.kafka_sasl_oauth_client_secret
    key = (
        cfg.kafka_sasl_oauth_token_url,
        cfg.kafka_sasl_oauth_client_id,
        secret.get_secret_value() if secret is not None else None,
        cfg.kafka_sasl_oauth_scope,
        cfg.kafka_sasl_oauth_token_file,
        cfg.kafka_sasl_oauth_token.get_secret_value() if cfg.kafka_sasl_oauth_token is not None else None,
    )
    with _SOURCES_LOCK:
        src = _SOURCES.get(key)
        if src is None:
            src = _SOURCES[key] = OAuthTokenSource(cfg)
        return src


def kafka_python_provider(cfg: KafkaConfig) -> Any:
    from kafka.net.sasl.oauth import AbstractTokenProvider

    class Provider(AbstractTokenProvider):  # type: ignore[misc]
        def __init__(self, source: OAuthTokenSource) -> None:
            self.source = source

        def token(self) -> str:
            return self.source.token()

    return Provider(token_source(cfg))


def aiokafka_provider(cfg: KafkaConfig) -> Any:
    """For aiokafka and Faust (whose aiokafka transport passes it on). The endpoint is asked off the loop."""
    from aiokafka.abc import AbstractTokenProvider

    class Provider(AbstractTokenProvider):  # type: ignore[misc]
        def __init__(self, source: OAuthTokenSource) -> None:
            self.source = source

        async def token(self) -> str:
            return await asyncio.to_thread(self.source.token)

    return Provider(token_source(cfg))
