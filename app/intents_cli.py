"""`tailor intent` / `tailor intents`: publish intents and show how they parse."""

from __future__ import annotations

import asyncio

from agents.tasks.catalog import families
from streaming.intent_publish import latest_intents, parse_as_worker
from streaming.settings import TailorSettings


def show_intents(settings: TailorSettings, list_families: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if list_families:
        table = Table(title="Task families")
        table.add_column("family")
        table.add_column("domains")
        for f in families(settings.tasks):
            table.add_row(f.name, ", ".join(f.domains))
        console.print(table)
        return
    table = Table(title="Active intents")
    for col in ("id", "text", "domain", "task families", "budget", "parsed by"):
        table.add_column(col)
    for intent in latest_intents(settings):
        parsed = asyncio.run(parse_as_worker(settings, intent)).parsed
        table.add_row(
            intent.intent_id,
            intent.text,
            str(parsed.specs[0].domain if parsed.specs else None),
            ", ".join(s.task_family for s in parsed.specs),
            str(parsed.specs[0].budget if parsed.specs else None),
            parsed.parsed_by,
        )
    console.print(table)
