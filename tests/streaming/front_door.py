"""A loopback TCP forwarder in front of a broker, to take the broker off the network and bring it back.

The embedded Tansu keeps topics in memory only (its build has no durable engine), so stopping its
process loses every topic. For an outage test the broker is started listening on an inner port and
advertising this door's port; `close()` then does to clients what a stopped broker does (every open
connection is reset, new connections are refused) while the topics stay, and `open()` listens again
on the same port, as a broker with durable storage coming back would.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading

log = logging.getLogger(__name__)


class FrontDoor:
    def __init__(self, host: str, port: int, target_port: int) -> None:
        self.host = host
        self.port = port
        self.target = (host, target_port)
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._accepting: threading.Thread | None = None
        self.connections = 0

    def open(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        sock.settimeout(0.2)
        self._listener = sock
        self._accepting = threading.Thread(target=self._accept, args=(sock,), daemon=True)
        self._accepting.start()

    def close(self) -> None:
        """Refuse new connections and reset every open one (RST, as a killed broker's kernel would)."""
        sock, self._listener = self._listener, None
        if sock is not None:
            sock.close()
        if self._accepting is not None:
            self._accepting.join(timeout=5)
        with self._lock:
            conns, self._conns = self._conns, set()
        for c in conns:
            try:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
                c.shutdown(socket.SHUT_RDWR)  # wakes the pump threads, which close the sockets
            except OSError:
                pass

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _addr = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # closed meanwhile
                    client.close()
                    upstream.close()
                    return
                self._conns.update((client, upstream))
                self.connections += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        with self._lock:
            self._conns.discard(src)
            self._conns.discard(dst)
