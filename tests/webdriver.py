"""A small W3C WebDriver client (stdlib HTTP) over Debian's `chromedriver`, driving headless `chromium`.

Enough for the page tests: a session, navigate, find elements, run a script, a screenshot. It speaks the
same protocol selenium speaks to chromedriver (https://www.w3.org/TR/webdriver2/), without adding selenium
and its dependencies to the lock.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference


class WebDriverError(AssertionError):
    """chromedriver answered with an error (the W3C `error` and `message`)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(base: str, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 60) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json; charset=utf-8")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())["value"]
    except urllib.error.HTTPError as err:
        value = json.loads(err.read() or b"{}").get("value", {})
        raise WebDriverError(
            f"{method} {path}: {value.get('error')}: {value.get('message', '')[:500]}"
        ) from err


class Browser:
    """One WebDriver session."""

    def __init__(self, base: str, session_id: str) -> None:
        self.base = f"{base}/session/{session_id}"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return _call(self.base, method, path, body)

    def get(self, url: str) -> None:
        self.call("POST", "/url", {"url": url})

    def find_all(self, css: str) -> list[str]:
        found = self.call("POST", "/elements", {"using": "css selector", "value": css})
        return [e[ELEMENT] for e in found]

    def click(self, element: str) -> None:
        self.call("POST", f"/element/{element}/click", {})

    def current_url(self) -> str:
        return str(self.call("GET", "/url"))

    def text(self, element: str) -> str:
        return str(self.call("GET", f"/element/{element}/text"))

    def script(self, source: str, *args: Any) -> Any:
        return self.call("POST", "/execute/sync", {"script": source, "args": list(args)})

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("GET", "/screenshot"))


class ChromeDriver:
    """A running `chromedriver` on a free loopback port; `session()` opens headless Chromium on it."""

    def __init__(self, chromedriver: Path, chromium: Path, workdir: Path) -> None:
        self.chromium, self.workdir = chromium, workdir
        port = _free_port()
        self.base = f"http://127.0.0.1:{port}"
        log = (workdir / "chromedriver.log").open("wb")
        self.proc = subprocess.Popen(
            [str(chromedriver), f"--port={port}"], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if _call(self.base, "GET", "/status", timeout=2).get("ready"):
                    break
            except (OSError, ValueError):
                pass
            assert self.proc.poll() is None, f"chromedriver exited: {self.proc.returncode}"
            assert time.monotonic() < deadline, "chromedriver did not become ready in 30 s"
            time.sleep(0.1)

    @contextmanager
    def session(self, width: int = 1280, height: int = 1600) -> Iterator[Browser]:
        args = [
            "--headless=new",
            "--no-sandbox",  # root in a container: Chromium's sandbox needs user namespaces
            "--disable-dev-shm-usage",
            "--disable-gpu",
            f"--window-size={width},{height}",
            f"--user-data-dir={self.workdir / 'profile'}",
        ]
        caps = {"browserName": "chrome", "goog:chromeOptions": {"binary": str(self.chromium), "args": args}}
        value = _call(self.base, "POST", "/session", {"capabilities": {"alwaysMatch": caps}}, timeout=120)
        browser = Browser(self.base, value["sessionId"])
        try:
            yield browser
        finally:
            browser.call("DELETE", "")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
