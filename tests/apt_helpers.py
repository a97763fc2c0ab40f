"""Debian packages a test needs (Prometheus, Chromium), installed with apt-get when missing.

A clean clone running `make test` as root on Debian installs them; the caller skips only when apt cannot
reach its package sources (no apt, not root, or no network). An install that reaches apt and still fails
is a test failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest


def _found(binaries: Sequence[str]) -> dict[str, Path] | None:
    paths = {name: shutil.which(name) for name in binaries}
    if all(paths.values()):
        return {name: Path(p) for name, p in paths.items() if p}
    return None


def _apt(*args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # another apt run (a second session, unattended upgrades) may hold the dpkg lock: wait for it
    cmd = ["apt-get", "-o", "DPkg::Lock::Timeout=300", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)


def apt_binaries(packages: Sequence[str], binaries: Sequence[str]) -> dict[str, Path]:
    """The paths of `binaries`, installing Debian's `packages` first when any is not on PATH."""
    found = _found(binaries)
    if found is not None:
        return found
    wanted = " and ".join(packages)
    if shutil.which("apt-get") is None:
        pytest.skip(f"Debian's {wanted} package is needed and apt-get is not available here")
    if os.geteuid() != 0:
        pytest.skip(f"Debian's {wanted} package is needed; installing it with apt-get needs root")
    install = ("install", "-y", "-q", "--no-install-recommends", *packages)
    done = _apt(*install, timeout_s=900)
    if done.returncode != 0:
        update = _apt("update", "-q", timeout_s=300)
        if update.returncode != 0 or "Err:" in update.stdout:
            pytest.skip(f"apt cannot reach its package sources: {(update.stdout + update.stderr)[-300:]}")
        done = _apt(*install, timeout_s=900)
    assert done.returncode == 0, (
        f"apt-get install {wanted} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    found = _found(binaries)
    assert found is not None, f"{wanted} installed but {', '.join(binaries)} are not all on PATH"
    return found
