"""`tailor dataset push`: the Parquet part files and the dataset card to a Hugging Face dataset repository,
or to a local folder (`file://PATH` or an absolute path), with the same files and the same mirror rule.

The card is written first, so what is pushed always describes the files pushed. The hub gets one commit
(`HfApi.upload_folder`) of README.md plus every published part file; part files the target holds that the
dataset no longer has (compaction merged them) are deleted in that commit. A local target gets the same
set, each file written to a temporary name and renamed, then the stale part files removed.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.errors import TailorError
from streaming.sinks.card import CARD_NAME, write_card
from streaming.sinks.layout import FAMILY_KEY, PART_SUFFIX, list_parts
from streaming.sinks.push_config import PushConfig

_PARTS_GLOB = f"{FAMILY_KEY}=*/**/*{PART_SUFFIX}"


class PushError(TailorError, ValueError):
    """A push that could not happen; `reason` is a short label."""


@dataclass(frozen=True)
class PushResult:
    target: str
    files: list[str]  # relative paths pushed, README.md first
    deleted: list[str]  # stale part files removed from a local target (the hub deletes its own)


def local_target(repo: str) -> Path | None:
    """The folder a `file://` URL or an absolute path names; None for a hub repository id (owner/name)."""
    if repo.startswith("file://"):
        return Path(repo.removeprefix("file://"))
    return Path(repo) if os.path.isabs(repo) else None


def push_files(root: Path) -> list[str]:
    parts = [str(p.path.relative_to(root)) for p in list_parts(root)]
    if not parts:
        raise PushError("empty_dataset", f"{root} has no part files to push")
    return [CARD_NAME, *parts]


def push_dataset(root: Path, repo: str, config: PushConfig) -> PushResult:
    if not root.is_dir():
        raise PushError("no_dataset", f"{root} is not a directory")
    write_card(root)
    files = push_files(root)
    folder = local_target(repo)
    if folder is not None:
        return PushResult(str(folder), files, _copy(root, folder.resolve(), files))
    _upload(root, repo, files, config)
    return PushResult(f"https://huggingface.co/datasets/{repo}", files, [])


def _copy(root: Path, target: Path, files: list[str]) -> list[str]:
    if target == root.resolve() or root.resolve() in target.parents:
        raise PushError("target_inside_dataset", f"{target} is the dataset or inside it")
    for rel in files:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(root / rel, tmp)
        os.replace(tmp, dest)
    keep = set(files)
    stale = sorted(
        str(p.relative_to(target)) for p in target.glob(_PARTS_GLOB) if str(p.relative_to(target)) not in keep
    )
    for rel in stale:
        (target / rel).unlink()
    return stale


def _upload(root: Path, repo: str, files: list[str], config: PushConfig) -> None:
    import httpx
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    token = config.token.get_secret_value() if config.token else None
    api = HfApi(token=token)
    try:
        api.create_repo(repo, repo_type="dataset", private=config.private, exist_ok=True)
        api.upload_folder(
            repo_id=repo,
            repo_type="dataset",
            folder_path=root,
            allow_patterns=files,
            delete_patterns=[_PARTS_GLOB],  # files uploaded in the same commit are kept
            revision=config.revision,
            commit_message=config.commit_message,
        )
    except OfflineModeIsEnabled as err:
        raise PushError("hub_offline", f"HF_HUB_OFFLINE is set: {err}"[:500]) from None
    # refused, unauthorised, unreachable, a bad repository id
    except (HfHubHTTPError, httpx.HTTPError, OSError, ValueError) as err:
        raise PushError("hub_push_failed", f"{repo}: {type(err).__name__}: {err}"[:500]) from None
