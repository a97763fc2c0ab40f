"""Test PKI (openssl) and an mTLS-terminating TCP proxy in front of the embedded broker.

The Tansu build the tests use accepts `--cert` but serves plain TCP (a TLS ClientHello is read as a Kafka
frame), so TLS is terminated by this proxy, the way a TLS sidecar or load balancer fronts a broker. It demands
a client certificate signed by the test CA (`ssl.CERT_REQUIRED`), so a client that connects through it has
presented one; the broker behind it is the real one, so every client still speaks Kafka end to end."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

KEY_PASSWORD = "s3cret-key-pass"


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path  # encrypted with KEY_PASSWORD
    other_ca: Path  # a CA that signed nothing here


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    for ca in ("ca", "other-ca"):
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=tailor-test-{ca}",
            "-keyout", f"{ca}.key", "-out", f"{ca}.pem", cwd=folder,
        )  # fmt: skip
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, keyopts in (("server", ["-nodes"]), ("client", ["-passout", f"pass:{KEY_PASSWORD}"])):
        _openssl(
            "req", "-newkey", "rsa:2048", *keyopts, "-subj", f"/CN=tailor-{name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=folder,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=folder,
        )  # fmt: skip
    return Pki(
        folder / "ca.pem",
        folder / "server.pem",
        folder / "server.key",
        folder / "client.pem",
        folder / "client.key",
        folder / "other-ca.pem",
    )


class MtlsProxy:
    """Listens with TLS on `port`, requires a client certificate from `pki.ca`, forwards to `upstream_port`.
    `peers` lists the client certificate subjects of the accepted connections (a failed handshake never gets
    that far)."""

    def __init__(self, pki: Pki, port: int, upstream_port: int) -> None:
        self.port, self.upstream_port = port, upstream_port
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
        self.ctx.load_cert_chain(pki.server_cert, pki.server_key)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.peers: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> MtlsProxy:
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port, ssl=self.ctx)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cert = writer.get_extra_info("peercert") or {}
        self.peers.append(str(dict(x[0] for x in cert.get("subject", ()))))
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, ssl.SSLError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
