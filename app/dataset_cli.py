"""`tailor dataset card|push|upgrade`: describe a Parquet dataset with a Hugging Face dataset card, and push it;
`tailor ui` (alias `tailor audit`): browse it in a read-only web page."""

from __future__ import annotations

import copy
from pathlib import Path

import click

from app.audit_config import AuditConfig
from app.cli_common import fail, field_help, settings_or_exit
from core.errors import TailorError
from streaming.sinks.push_config import PushConfig

_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


@click.group()
def dataset() -> None:
    """Dataset cards and publishing."""


@dataset.command("card")
@click.argument("dataset_dir", type=_DIR)
@click.option("--name", default=None, help="The card's title [default: the folder's name].")
def card(dataset_dir: Path, name: str | None) -> None:
    """Write DATASET_DIR/README.md: a dataset card with one `configs` entry per task family."""
    from streaming.sinks.card import write_card

    settings_or_exit()
    try:
        path = write_card(dataset_dir, name)
    except (TailorError, OSError) as exc:
        fail(exc)
        return
    click.echo(f"wrote {path}")
    from streaming.sinks.upgrade import old_parts

    old = old_parts(dataset_dir)
    if old:
        click.echo(
            f"tailor: {len(old)} part files are of an older sink schema; datasets.load_dataset cannot mix them "
            "with newer ones: run `tailor dataset upgrade` first",
            err=True,
        )


@dataset.command("upgrade")
@click.argument("dataset_dir", type=_DIR)
def upgrade(dataset_dir: Path) -> None:
    """Rewrite DATASET_DIR's part files of an older sink schema in the current one (new columns null), so
    `datasets` can load every family."""
    from streaming.sinks.upgrade import upgrade_dataset

    settings_or_exit()
    try:
        result = upgrade_dataset(dataset_dir)
    except (TailorError, OSError, ValueError) as exc:
        fail(exc)
        return
    click.echo(f"upgraded {len(result.upgraded)} part files; {result.current} were current")


@dataset.command("push")
@click.argument("dataset_dir", type=_DIR)
@click.argument("repo")
@click.option("--public", is_flag=True, help="Create the hub repository public (default: private).")
@click.option("--revision", default=None, help=field_help(PushConfig, "revision"))
def push(dataset_dir: Path, repo: str, public: bool, revision: str | None) -> None:
    """Push DATASET_DIR (its card, refreshed first, and its part files) to the hub dataset repository REPO
    (owner/name), or to a local folder (file://PATH or an absolute path)."""
    from streaming.sinks.push import push_dataset

    settings_or_exit()
    try:
        result = push_dataset(dataset_dir, repo, PushConfig(private=not public, revision=revision))
    except (TailorError, OSError) as exc:
        fail(exc)
        return
    removed = f"; removed {len(result.deleted)} stale part files" if result.deleted else ""
    click.echo(f"pushed {len(result.files)} files to {result.target}{removed}")


@click.command("ui")
@click.argument("dataset_dir", type=_DIR)
@click.option("--host", default=None, help=field_help(AuditConfig, "host"))
@click.option("--port", type=int, default=None, help=field_help(AuditConfig, "port"))
def ui(dataset_dir: Path, host: str | None, port: int | None) -> None:
    """Serve a read-only audit page over DATASET_DIR: each example beside the key frames and anchors it
    cites and its window's anchors on a timeline (frames not embedded in the rows come from the frame
    store), and the rejected candidates with the reasons they were refused."""
    from app.audit_server import make_server
    from streaming.anchor_stage import frame_store

    settings = settings_or_exit()
    fields = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    try:
        server = make_server(dataset_dir, AuditConfig(**fields), frame_store(settings))
    except (TailorError, OSError, ValueError) as exc:
        fail(exc)
        return
    click.echo(f"serving {len(server.index.examples)} examples on {server.url}")
    click.echo(f"and {len(server.index.rejected)} rejected candidates on {server.url}?status=rejected")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


# `tailor audit`: the command's first name, kept so scripts that use it keep working (hidden from --help)
audit = copy.copy(ui)
audit.name, audit.hidden = "audit", True
