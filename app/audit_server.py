"""`tailor ui DATASET_DIR` (alias `tailor audit`): a small read-only web page over a Parquet dataset (stdlib http.server).

    /                  the examples, newest first, filtered by status (accepted, the default, or rejected:
                       the dataset's __rejected/ table, with the reasons), family, domain, intent, weights version
    /example?id=ID     one example: output, the key frames it cites, the window's anchors on its timeline
                       (the cited ones highlighted), source offsets, rewards, model and weights version,
                       provenance, prompt
    /rejected?id=ID    one rejected candidate: its reasons and details, raw output, source offsets, rewards,
                       model and weights version, the window's anchors on its timeline
    /frame?id=ID&n=N   the example's N-th key frame (from the row, else the frame store, hash-checked)

GET only; the dataset is read once at start. Bound to loopback unless told otherwise: it has no login.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from app.audit_config import AuditConfig
from app.audit_index import FILTERS, STATUSES, AuditIndex
from app.audit_pages import example_page, list_page, not_found, rejected_page
from core.blobstore import BlobStore

log = logging.getLogger(__name__)

# pages load only their own images and inline style; nothing runs
_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'"


class AuditServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, index: AuditIndex, config: AuditConfig) -> None:
        self.index = index
        self.config = config
        super().__init__((config.host, config.port), AuditHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"


class AuditHandler(BaseHTTPRequestHandler):
    server: AuditServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items() if v}
        try:
            if url.path == "/":
                wanted = {k: query[k] for k in FILTERS if k in query}
                if query.get("status") in STATUSES:
                    wanted["status"] = query["status"]
                self.html(HTTPStatus.OK, list_page(self.server.index, wanted, self.server.config.page_rows))
            elif url.path == "/example":
                stored = self.server.index.examples.get(query.get("id", ""))
                if stored is None:
                    self.html(HTTPStatus.NOT_FOUND, not_found(f"example {query.get('id', '')!r}"))
                else:
                    self.html(HTTPStatus.OK, example_page(stored))
            elif url.path == "/rejected":
                rejected = self.server.index.rejected.get(query.get("id", ""))
                if rejected is None:
                    self.html(HTTPStatus.NOT_FOUND, not_found(f"rejected candidate {query.get('id', '')!r}"))
                else:
                    self.html(HTTPStatus.OK, rejected_page(rejected))
            elif url.path == "/frame":
                n = query.get("n", "")
                frame = self.server.index.frame(query.get("id", ""), int(n)) if n.isdigit() else None
                if frame is None:
                    self.html(HTTPStatus.NOT_FOUND, not_found("frame"))
                else:
                    self.send(HTTPStatus.OK, frame.data, frame.media_type)
            else:
                self.html(HTTPStatus.NOT_FOUND, not_found(f"page {url.path!r}"))
        except ConnectionError:  # the client went away mid-answer (a browser dropping a favicon request)
            log.debug("audit client %s left during %s", self.address_string(), url.path)
        except Exception:  # a page that cannot be built: log it, answer 500, keep serving
            log.exception("audit page %s failed", url.path)
            self.html(HTTPStatus.INTERNAL_SERVER_ERROR, "<p>internal error (see the server log)</p>")

    def html(self, status: HTTPStatus, text: str) -> None:
        self.send(status, text.encode("utf-8"), "text/html; charset=utf-8")

    def send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


def make_server(root: Path, config: AuditConfig, frames: BlobStore | None) -> AuditServer:
    """The server, bound and ready (`serve_forever` to run it); the dataset is indexed here."""
    return AuditServer(AuditIndex.open(root, frames, config.max_frame_bytes, config.max_frame_pixels), config)
