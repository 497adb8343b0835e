"""Writing an entry atomically: a hidden temp folder in the repository, verified, renamed in, and only then
listed in an index that is itself replaced atomically. Any failure leaves the tree byte-identical."""

from __future__ import annotations

import datetime as _datetime
import importlib.metadata
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pyarrow.parquet as pq
from ray.rllib.core.rl_module.rl_module import RLModule

from fast_rllib.atomic_write import write_atomically
from fast_rllib.repository import safe_module
from fast_rllib.repository.layout import (
    AUTOENCODER_KEY,
    CHECKSUM_KEY,
    FORMAT_NAME,
    FORMAT_VERSION,
    FRAMES_FILE,
    INDEX_FILE,
    MODULE_DIR,
    READABLE_DIRECTORY,
    READABLE_FILE,
    REQUIRED_INFO_KEYS,
    SAFE_FORMAT,
    SOURCE_FILE,
    action_mode_for,
    check_entry_name,
    check_frames,
    frames_table,
    read_json,
    serialize_space,
)
from fast_rllib.repository.loading import SourceEntry, read_entry, read_index, read_index_document
from fast_rllib.repository.policies import actions_match, inference_only_copy, inference_state_of
from fast_rllib.repository.transfer_record import TRANSFER_RECORD_KEY, TransferRecord
from fast_rllib.tasks.catalogue import TASKS


def write_index(root: Path, names: Sequence[str]) -> None:
    """Replace ``index.json`` atomically: a reader sees the old index or the new one, never a partial one.
    The repository's autoencoder choice, when it names one, is kept."""
    index = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "entries": list(names)}
    if (root / INDEX_FILE).exists() and AUTOENCODER_KEY in (previous := read_index_document(root)):
        index[AUTOENCODER_KEY] = previous[AUTOENCODER_KEY]
    content = json.dumps(index, indent=2)
    descriptor, temporary = tempfile.mkstemp(prefix=".tmp-index-", suffix=".json", dir=root)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(content + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, READABLE_FILE)  # mkstemp makes it private; a repository is read by everyone
        os.replace(temporary, root / INDEX_FILE)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def library_versions() -> dict[str, str]:
    def version(distribution: str) -> str:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    return {name: version(name) for name in ("ray", "torch", "highway-env", "gymnasium", "fast-rllib")}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} value {value!r} cannot be stored in {SOURCE_FILE}")


def _readable_json(value: Any, indent: int = 0) -> str:
    """Indented JSON with lists of scalars kept on one line (a 45-value space bound is one line, not 45)."""
    value = json.loads(json.dumps(value, default=_json_default))
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(key)}: {_readable_json(item, indent + 2)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        items = [f"{inner}{_readable_json(item, indent + 2)}" for item in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value)


def complete_info(
    info: Mapping[str, Any], name: str, module: RLModule, frames: np.ndarray, inference_only: bool
) -> dict:
    """source.json's content: the caller's facts about training and evaluation, plus what can be read off
    the module and frames (spaces, frame size, counts) and the environment (versions, time). Values the
    caller gave for the derived keys must agree with the derived ones."""
    missing = [key for key in REQUIRED_INFO_KEYS if info.get(key) is None]
    if missing:
        raise ValueError(f"info for entry {name!r} lacks {missing}")
    task_id = info["task_id"]
    description = info.get("description") or (TASKS[task_id].description if task_id in TASKS else None)
    if not description:
        raise ValueError(f"info for entry {name!r} needs a description: task {task_id!r} is not in the catalogue")
    derived = {
        "observation_space": serialize_space(module.observation_space),
        "action_space": serialize_space(module.action_space),
        "frame_size": int(frames.shape[-1]),
        "action_mode": action_mode_for(module.action_space),
    }
    for key, value in derived.items():
        given = info.get(key)
        if given is not None and json.loads(json.dumps(given, default=_json_default)) != value:
            raise ValueError(f"info[{key!r}]={given!r} for entry {name!r} disagrees with the module/frames: {value!r}")
    first = {
        "name": name,
        "task_id": task_id,
        "task_config": info.get("task_config") or {},
        "description": description,
        "action_mode": derived["action_mode"],
        "frame_size": derived["frame_size"],
        "frame_stacks": int(frames.shape[0]),
        "training_env_steps": info.get("training_env_steps"),
        "evaluation_return": info["evaluation_return"],
        "controller_return": info.get("controller_return"),
        "random_return": info.get("random_return"),
    }
    last = {
        "observation_space": derived["observation_space"],
        "action_space": derived["action_space"],
        "module_inference_only": inference_only,
        "versions": library_versions(),
        "created_at": _datetime.datetime.now(_datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    extra = {key: value for key, value in info.items() if key not in first and key not in last}
    return {**first, **extra, **last}


def _save_module(module: RLModule, directory: Path) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Save the inference-only copy when there is one (else the full module) as safetensors and a JSON spec;
    returns whether it is inference-only and the files' sizes and SHA-256 (recorded in source.json)."""
    stored = inference_only_copy(module) or module.unwrapped()
    checksums = safe_module.save_module(stored, directory)
    for file_name in checksums:
        (directory / file_name).chmod(READABLE_FILE)  # safetensors writes owner-only; a repository is shared
    return bool(stored.inference_only), checksums


def _with_module_record(info: Mapping[str, Any], inference_only: bool, checksums: Mapping[str, Any]) -> dict:
    """source.json's content with the stored module's format, inference-only flag and file checksums."""
    return {**info, "module_inference_only": inference_only, "module_format": SAFE_FORMAT, CHECKSUM_KEY: dict(checksums)}


def _write_source_json(directory: Path, source: Mapping[str, Any]) -> None:
    _write_source_json_to(directory / SOURCE_FILE, source)


def _write_source_json_to(path: Path, source: Mapping[str, Any]) -> None:
    path.write_text(_readable_json(source) + "\n", encoding="utf-8")


def _verify_stored_module(directory: Path, name: str, original: RLModule) -> None:
    """The staged entry must read back, and its module must give the original's actions."""
    reloaded = read_entry(directory, name).load_module()
    if not actions_match(original, reloaded, original.observation_space):
        raise RuntimeError(f"the stored module of entry {name!r} does not reproduce the original's actions")


def _write_entry_files(
    directory: Path,
    name: str,
    module: RLModule,
    frames: np.ndarray,
    episode_returns: np.ndarray,
    info: Mapping[str, Any],
) -> None:
    """Everything of one entry into ``directory``, then read back and verified."""
    inference_only, checksums = _save_module(module, directory / MODULE_DIR)
    pq.write_table(frames_table(frames, episode_returns), directory / FRAMES_FILE, compression="zstd")
    source = complete_info(info, name, module, frames, inference_only)
    _write_source_json(directory, _with_module_record(source, inference_only, checksums))
    _verify_stored_module(directory, name, module)


def _sync_directory(directory: Path) -> None:
    """fsync a folder so that renames in it survive a power cut (best effort: not every OS allows it)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _check_fits_repository(root: Path, others: Sequence[str], module: RLModule, frames: np.ndarray) -> None:
    """Refuse an entry the repository could not load next to its existing ones (a different frame size or
    different spaces), instead of writing it and breaking every later load."""
    if not others:
        return
    try:
        existing = read_json(root / others[0] / SOURCE_FILE)
    except (OSError, ValueError):
        return  # the existing entry is itself broken; loading will name it
    wanted = {
        "frame_size": int(frames.shape[-1]),
        "observation_space": serialize_space(module.observation_space),
        "action_space": serialize_space(module.action_space),
    }
    for key, value in wanted.items():
        if key in existing and existing[key] != value:
            raise ValueError(
                f"cannot add to {root}: the new entry's {key} ({_short(value)}) differs from that of entry "
                f"{others[0]!r} ({_short(existing[key])}); every source must share them"
            )


def _short(value: Any) -> str:
    if isinstance(value, dict) and value.get("type") == "Box":
        return f"Box{tuple(value['shape'])} {value['dtype']} low={value['low'][:2]}... high={value['high'][:2]}..."
    return str(value)


def write_entry(
    root: str | Path,
    name: str,
    *,
    module: RLModule,
    frames: np.ndarray,
    episode_returns: np.ndarray,
    info: dict,
    overwrite: bool = False,
) -> SourceEntry:
    """Add (or, with ``overwrite``, replace) entry ``name`` in the repository at ``root``, atomically.

    ``info`` must give ``task_id`` and ``evaluation_return``; usually also ``task_config``,
    ``training_env_steps``, ``controller_return``, ``random_return`` (see :func:`complete_info` for what
    is derived). The entry is written to a hidden temp folder inside ``root``, reloaded and checked (the
    stored policy must give the module's actions), moved into place with a rename, and only then listed
    in a freshly renamed ``index.json``. On any failure the tree is left exactly as it was.
    """
    root = Path(root).resolve()  # RLlib checkpoints go through pyarrow, which takes absolute paths only
    check_entry_name(name)
    frames = np.asarray(frames)
    episode_returns = np.asarray(episode_returns, dtype=np.float64)
    check_frames(frames, episode_returns)
    root.mkdir(parents=True, exist_ok=True)
    names = read_index(root) if (root / INDEX_FILE).exists() else []
    target = root / name
    if (name in names or target.exists()) and not overwrite:
        raise FileExistsError(
            f"entry {name!r} already exists at {target}; pass overwrite=True (`repo add --overwrite`) to replace it"
        )

    _check_fits_repository(root, [other for other in names if other != name], module, frames)

    _install_entry(root, name, names, lambda staging: _write_entry_files(staging, name, module, frames, episode_returns, info))
    return read_entry(target, name)


def _install_entry(root: Path, name: str, names: Sequence[str], fill: Callable[[Path], None]) -> None:
    """Run ``fill(staging)`` on a hidden temp folder inside ``root``, rename it over entry ``name`` (keeping
    the old folder aside until the index is written) and list it in the index. On any failure the tree is
    left exactly as it was."""
    target = root / name
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    staging.chmod(READABLE_DIRECTORY)  # mkdtemp makes it private; the entry is read by every user
    backup: Path | None = None
    moved_in = False
    try:
        fill(staging)
        if target.exists():
            backup = Path(tempfile.mkdtemp(prefix=f".old-{name}-", dir=root))
            os.replace(target, backup / name)
        os.replace(staging, target)
        moved_in = True
        write_index(root, names if name in names else [*names, name])
        _sync_directory(root)
    except BaseException:
        if moved_in:
            shutil.rmtree(target, ignore_errors=True)
        if backup is not None and (backup / name).exists():
            os.replace(backup / name, target)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)


def convert_entry(root: str | Path, name: str, *, trust_pickles: bool) -> SourceEntry:
    """Rewrite a pickled (RLlib checkpoint) entry in the safetensors format, atomically.

    Loading the old module unpickles it, so the caller must say the entry is trusted. Frames and source.json
    are kept as they are (only the module record is added); the new module must give exactly the old one's
    inference state and actions before it replaces the old folder. An entry already in the safe format is
    returned unchanged.
    """
    root = Path(root).resolve()
    names = read_index(root)
    if name not in names:
        raise KeyError(f"no source entry {name!r} in repository {root}; entries: {', '.join(names)}")
    entry = read_entry(root / name, name, trust_pickles=trust_pickles)
    if entry.module_format == SAFE_FORMAT:
        return entry
    original = entry.load_module()

    def fill(staging: Path) -> None:
        shutil.copy2(entry.path / FRAMES_FILE, staging / FRAMES_FILE)
        inference_only, checksums = _save_module(original, staging / MODULE_DIR)
        _write_source_json(staging, _with_module_record(entry.info, inference_only, checksums))
        converted = read_entry(staging, name).load_module()
        if not _same_state(inference_state_of(original), inference_state_of(converted)):
            raise RuntimeError(f"the converted module of entry {name!r} does not hold the original's weights")
        _verify_stored_module(staging, name, original)

    _install_entry(root, name, names, fill)
    return read_entry(root / name, name)


def _same_state(expected: Mapping[str, np.ndarray], actual: Mapping[str, np.ndarray]) -> bool:
    return expected.keys() == actual.keys() and all(np.array_equal(expected[key], actual[key]) for key in expected)


def remove_entry(root: str | Path, name: str) -> None:
    """Delete entry ``name``: first from the index (atomically, so it stops existing for every reader at
    once), then its folder. A crash in between leaves an unlisted folder, which loading ignores."""
    root = Path(root).resolve()
    names = read_index(root)
    if name not in names:
        raise KeyError(f"no source entry {name!r} in repository {root}; entries: {', '.join(names)}")
    write_index(root, [other for other in names if other != name])
    _sync_directory(root)
    shutil.rmtree(root / name, ignore_errors=True)


def store_transfer_record(root: str | Path, name: str, record: TransferRecord) -> None:
    """Write ``record`` into entry ``name``'s ``source.json``, atomically: a reader sees the old file or the new
    one. The module files and their checksums are untouched (the record is about them, not part of them)."""
    source_path = Path(root) / name / SOURCE_FILE
    info = {**read_json(source_path), TRANSFER_RECORD_KEY: record.to_json()}

    def write(temporary: Path) -> None:
        _write_source_json_to(temporary, info)
        temporary.chmod(READABLE_FILE)

    write_atomically(source_path, write)
