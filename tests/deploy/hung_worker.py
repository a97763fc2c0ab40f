"""`tailor up` whose event loop blocks once a flag file appears (run by test_liveness.py).

    HUNG_TEST_FLAG=/path/flag HUNG_TEST_BLOCK_S=12 python -m tests.deploy.hung_worker   # TAILOR_* as for `tailor up`

The real `run_service` (metrics server, heartbeat timer, Faust worker), plus one more timer that calls
time.sleep on the loop: the stuck loop a liveness probe must catch while /metrics still answers.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import faust

from app import service
from streaming.settings import load_settings

_register_trim = service.register_trim


def _register_trim_and_blocker(app: faust.App, interval_s: float) -> None:
    _register_trim(app, interval_s)
    flag = Path(os.environ["HUNG_TEST_FLAG"])
    block_s = float(os.environ.get("HUNG_TEST_BLOCK_S", "12"))

    @app.timer(0.2, name="tests.block_loop")
    async def block_loop() -> None:
        if flag.exists():
            flag.unlink()
            time.sleep(block_s)  # blocks the event loop on purpose


def main() -> int:
    service.register_trim = _register_trim_and_blocker  # type: ignore[assignment]
    return service.run_service(load_settings())


if __name__ == "__main__":
    raise SystemExit(main())
