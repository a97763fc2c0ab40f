"""mTLS and SASL/OAUTHBEARER reach every Kafka client Tailor makes.

mTLS runs end to end against the real embedded broker behind an mTLS-terminating proxy (tls_helpers: this
Tansu build serves plain TCP only): kafka-python admin and producer, aiokafka reader, the Faust app's
credentials as Faust's aiokafka transport hands them on, and the trainer lease's group consumer. No broker
here speaks OAUTHBEARER, so those tests check the token that each client's SASL step would send, from a real
token endpoint over HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from core.ports import free_port
from core.records import RejectedExample
from streaming.broker import EmbeddedBroker
from streaming.broker_config import BrokerConfig
from streaming.kafka_clients import aiokafka_kwargs, faust_broker_kwargs, kafka_python_kwargs, ssl_context
from streaming.kafka_oauth import OAuthTokenError, OAuthTokenSource
from streaming.lease import trainer_lease
from streaming.producer import TailorProducer
from streaming.settings import TailorSettings
from streaming.topic_reader import read_topic
from streaming.topics import ensure_topics
from tests.conftest import topic_env
from tests.streaming.tls_helpers import KEY_PASSWORD, MtlsProxy, Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def mtls(pki: Pki) -> Iterator[tuple[str, MtlsProxy]]:
    """(bootstrap, proxy): a Tansu that advertises the proxy's port, so every connection goes through TLS."""
    proxy_port = free_port()
    broker = EmbeddedBroker(BrokerConfig(broker_advertised_port=proxy_port))
    bootstrap = broker.start()
    assert broker.port is not None
    proxy = MtlsProxy(pki, proxy_port, broker.port).start()
    try:
        yield bootstrap, proxy
    finally:
        proxy.stop()
        broker.stop()


def tls_settings(bootstrap: str, pki: Pki, tmp_path: Path, **extra: Any) -> TailorSettings:
    prefix = f"s{time.monotonic_ns() % 10**8}"
    topics = {k.removeprefix("TAILOR_").lower(): v for k, v in topic_env(prefix).items()}
    fields: dict[str, Any] = {
        "kafka_bootstrap": bootstrap,
        "app_id": f"{prefix}-app",
        "data_dir": tmp_path,
        "partitions": 1,
        "kafka_security_protocol": "SSL",
        "kafka_ssl_cafile": pki.ca,
        "kafka_ssl_certfile": pki.client_cert,
        "kafka_ssl_keyfile": pki.client_key,
        "kafka_ssl_key_password": KEY_PASSWORD,
        "kafka_session_timeout_s": 3.0,
        **topics,
    }
    return TailorSettings(**{**fields, **extra})


def test_every_client_speaks_mtls_to_the_broker(
    mtls: tuple[str, MtlsProxy], pki: Pki, tmp_path: Path
) -> None:
    from aiokafka import AIOKafkaConsumer
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    bootstrap, proxy = mtls
    s = tls_settings(bootstrap, pki, tmp_path)
    ensure_topics(s, s, bootstrap)  # kafka-python admin
    record = RejectedExample(
        example_id="e1", task_family="f", window_id="w", reasons=["r"], created_at=time.time()
    )
    with TailorProducer.connect(bootstrap, s, s) as producer:  # kafka-python producer
        producer.send(record)
    assert [r.example_id for r in read_topic(s, s.topic_rejected, RejectedExample)] == ["e1"]  # aiokafka

    # the Faust app's broker credentials, turned into aiokafka arguments by Faust's own transport
    creds = faust_broker_kwargs(s, bootstrap)["broker_credentials"]
    auth = credentials_to_aiokafka_auth(creds)
    assert auth["security_protocol"] == "SSL"

    async def faust_path_reads() -> list[bytes]:
        consumer = AIOKafkaConsumer(
            s.topic_rejected, bootstrap_servers=bootstrap, auto_offset_reset="earliest", **auth
        )
        await consumer.start()
        try:
            batch = await consumer.getmany(timeout_ms=10_000)
            return [m.value for msgs in batch.values() for m in msgs]
        finally:
            await consumer.stop()

    assert len(asyncio.run(faust_path_reads())) == 1

    lease = trainer_lease(s).start()  # kafka-python group consumer
    try:
        assert lease.wait(20)
    finally:
        lease.stop()
    # every connection presented the client certificate (the proxy refuses handshakes without one)
    assert proxy.peers and all("tailor-client" in p for p in proxy.peers), proxy.peers
    print(f"{len(proxy.peers)} mTLS connections, all with the client certificate")


def test_a_worker_runs_over_mtls(
    mtls: tuple[str, MtlsProxy], pki: Pki, tmp_path: Path, shared_dir: Path
) -> None:
    """`tailor up` as a child process: Faust's own consumer, producer and changelog, the replay producer and
    the intent publisher all go through the mTLS proxy, and examples come out."""
    from core.records import Example
    from streaming.intent_publish import IntentRequest, publish_intent
    from streaming.replay.runner import replay
    from streaming.replay.runner_config import ReplayConfig
    from tests.conftest import start_worker_process, stop_worker_process
    from tests.kafka_helpers import consume

    bootstrap, proxy = mtls
    s = tls_settings(
        bootstrap,
        pki,
        tmp_path,
        partitions=2,
        window_grace_s=0.5,
        window_gap_s=2.0,
        window_sweep_interval_s=0.5,
        synth_backend="rules",
        synth_batch_window_s=0.3,
        sink_flush_s=0.5,
    )
    before = len(proxy.peers)
    worker = start_worker_process(s, tmp_path / "worker.log")
    try:
        publish_intent(s, IntentRequest(text="GUI action data", domain="gui", task="gui_action_extraction"))
        replay(s, ReplayConfig(paths=[shared_dir / "data/gui/aitw"], rate=0, progress=False))
        examples = [Example.from_bytes(m.value) for m in consume(s, s.topic_examples, timeout_s=90, idle_s=3)]
        assert examples and {e.task_family for e in examples} == {"gui_action_extraction"}, worker.log()[
            -3000:
        ]
    finally:
        stop_worker_process(worker)
    assert len(proxy.peers) > before and all("tailor-client" in p for p in proxy.peers)


def test_a_wrong_ca_or_a_missing_client_certificate_is_refused(
    mtls: tuple[str, MtlsProxy], pki: Pki, tmp_path: Path
) -> None:
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    bootstrap, proxy = mtls
    port = int(bootstrap.rsplit(":", 1)[1])
    good = tls_settings(bootstrap, pki, tmp_path, kafka_request_timeout_s=3.0, kafka_delivery_timeout_s=4.0)
    wrong_ca = good.model_copy(update={"kafka_ssl_cafile": pki.other_ca})
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        ctx = ssl_context(wrong_ca)
        assert ctx is not None
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    # the same through a client library: kafka-python gives up on the broker rather than trust it
    with pytest.raises(KafkaError):
        KafkaAdminClient(**kafka_python_kwargs(wrong_ca, bootstrap), bootstrap_timeout_ms=3000).close()

    no_cert = good.model_copy(
        update={"kafka_ssl_certfile": None, "kafka_ssl_keyfile": None, "kafka_ssl_key_password": None}
    )
    accepted = len(proxy.peers)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        ctx = ssl_context(no_cert)
        assert ctx is not None
        tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")  # TLS 1.3: the client's side completes first
        try:
            tls.sendall(b"\0\0\0\0")
            answer: bytes | str = tls.recv(1)  # then the server's refusal: an alert, or it just hangs up
        except (ssl.SSLError, ConnectionResetError) as exc:
            answer = str(exc)
    assert answer == b"" or "certificate" in str(answer).lower(), answer
    assert len(proxy.peers) == accepted  # no connection without a client certificate got to the broker


class TokenEndpoint(BaseHTTPRequestHandler):
    requests: list[dict[str, str]] = []

    def do_POST(self) -> None:
        form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
        TokenEndpoint.requests.append(form)
        ok = form.get("grant_type") == "client_credentials" and form.get("client_secret") == "cs"
        body = {"access_token": f"tok-{len(self.requests)}", "expires_in": 3600} if ok else {"error": "nope"}
        data = json.dumps(body).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def token_url() -> Iterator[str]:
    TokenEndpoint.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token"
    server.shutdown()


def test_oauthbearer_token_from_an_endpoint_reaches_every_client(
    token_url: str, pki: Pki, tmp_path: Path
) -> None:
    from aiokafka import AIOKafkaConsumer
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
    from kafka.net.sasl.oauth import SaslMechanismOAuth

    s = tls_settings(
        "broker.example:9093",
        pki,
        tmp_path,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="OAUTHBEARER",
        kafka_sasl_oauth_token_url=token_url,
        kafka_sasl_oauth_client_id="tailor",
        kafka_sasl_oauth_client_secret="cs",
        kafka_sasl_oauth_scope="kafka",
    )
    kp = kafka_python_kwargs(s, "broker.example:9093")
    ak = aiokafka_kwargs(s, "broker.example:9093")
    auth = credentials_to_aiokafka_auth(faust_broker_kwargs(s, "broker.example:9093")["broker_credentials"])
    assert kp["sasl_mechanism"] == ak["sasl_mechanism"] == auth["sasl_mechanism"] == "OAUTHBEARER"
    assert kp["security_protocol"] == ak["security_protocol"] == auth["security_protocol"] == "SASL_SSL"
    assert all(isinstance(k["ssl_context"], ssl.SSLContext) for k in (kp, ak, auth))
    # kafka-python's OAUTHBEARER step (it checks the provider's type, then sends this first message)
    first = SaslMechanismOAuth(**kp).auth_bytes()
    assert first == b"n,,\x01auth=Bearer tok-1\x01\x01"

    async def async_clients() -> list[str]:
        AIOKafkaConsumer(**ak)  # aiokafka checks the provider's type when the client is made
        return [
            await ak["sasl_oauth_token_provider"].token(),
            await auth["sasl_oauth_token_provider"].token(),
        ]

    assert asyncio.run(async_clients()) == ["tok-1", "tok-1"]
    # one cached token for all of them, asked with the client credentials grant and the scope
    assert len(TokenEndpoint.requests) == 1
    assert TokenEndpoint.requests[0] == {
        "grant_type": "client_credentials",
        "client_id": "tailor",
        "client_secret": "cs",
        "scope": "kafka",
    }
    bad = s.model_copy(update={"kafka_sasl_oauth_client_secret": SecretStr("wrong")})
    with pytest.raises(OAuthTokenError, match="401"):
        OAuthTokenSource(bad).token()


def test_oauthbearer_token_file_is_read_at_every_connection(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    s = TailorSettings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="OAUTHBEARER",
        kafka_sasl_oauth_token_file=token,
    )
    provider = kafka_python_kwargs(s, "b:9092")["sasl_oauth_token_provider"]
    assert provider.token() == "first"
    token.write_text("renewed\n")  # what a projected service-account token or a sidecar does
    assert provider.token() == "renewed"


@pytest.mark.parametrize(
    ("update", "named"),
    [
        ({"kafka_ssl_key_password": "wrong"}, r"do not load \(check kafka_ssl_key_password\)"),
        # an encrypted key and no password: refused, not a prompt on the terminal
        ({"kafka_ssl_key_password": None}, r"do not load \(check kafka_ssl_key_password\)"),
        ({"kafka_security_protocol": "PLAINTEXT"}, "kafka_ssl_certfile is set but"),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "OAUTHBEARER"},
            "exactly one of kafka_sasl_oauth_token_url",
        ),
        (
            {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_mechanism": "OAUTHBEARER",
                "kafka_sasl_oauth_token_url": "http://idp/token",
            },
            "needs kafka_sasl_oauth_client_id",
        ),
    ],
)
def test_bad_tls_and_oauth_settings_are_refused_naming_the_setting(
    pki: Pki, tmp_path: Path, update: dict[str, Any], named: str
) -> None:
    base = tls_settings("b:9093", pki, tmp_path)
    fields = {k: v for k, v in base.model_dump().items() if k.startswith("kafka_")}
    fields["kafka_ssl_key_password"] = KEY_PASSWORD
    fields.update(update)
    with pytest.raises(ValidationError, match=named):
        TailorSettings(**{k: v for k, v in fields.items() if v is not None})
