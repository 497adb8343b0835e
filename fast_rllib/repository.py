"""The source repository on disk: the frozen policies FAST can hand control to, and what they look like.

Layout of a repository folder::

    index.json            {"format": "fast-rllib-repository", "format_version": 1, "entries": [names]}
    <name>/module/        RLModule checkpoint (inference-only SAC policy when possible)
    <name>/frames.parquet one row per recorded episode: a mid-episode 4-frame stack (uint8) and the return
    <name>/source.json    task, description, spaces, training budget, returns, library versions
    autoencoder/          (optional) frame autoencoder weights, owned by fast_rllib.service

Why the design is the way it is:

* Only entries listed in ``index.json`` exist. A folder on disk that the index does not name (a crashed
  write, the autoencoder) is invisible, so a half-written entry can never be loaded.
* Writes are atomic: an entry is written and verified in a hidden temp folder inside the repository (same
  file system, so the final ``os.replace`` is a rename), then the index is replaced through its own temp
  file. A failure at any point leaves the previous tree byte-identical.
* Loading validates everything FAST will later rely on (files, frame shapes, spaces, policy network
  shapes) and fails early with a :class:`RepositoryError` naming the entry, its path and the reason,
  instead of failing deep inside a Ray worker halfway through training.
* Policies are stored inference-only (the policy network alone, about 1/18 of a full SAC module with
  256x256 nets): the EnvRunners only ever need that part, and it keeps the shipped wheel small.

Checkpoints contain pickles: load repositories only from sources you trust.
"""

from __future__ import annotations

import datetime as _datetime
import importlib.metadata
import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import gymnasium as gym
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI
from ray.rllib.core.rl_module.rl_module import RLModule, RLModuleSpec

from fast_rllib.tasks import make_task_env
from fast_rllib.tasks.catalogue import TASKS
from fast_rllib.evaluation import EpisodeRecord, Policy, mean_return, module_policy, random_policy, run_episodes
from fast_rllib.tasks.frames import DEFAULT_FRAME_SIZE, STACK_LENGTH

DEFAULT_REPOSITORY: Path = Path(__file__).parent / "zoo"

FORMAT_NAME = "fast-rllib-repository"
FORMAT_VERSION = 1
INDEX_FILE = "index.json"
MODULE_DIR = "module"
FRAMES_FILE = "frames.parquet"
SOURCE_FILE = "source.json"
# Files RLModule.save_to_path writes; the state file may be .pkl or .msgpack.
_CHECKPOINT_FILES = ("class_and_ctor_args.pkl",)
_CHECKPOINT_STATE_STEM = "module_state"
# Folder names a repository root uses for something other than entries.
RESERVED_NAMES = frozenset({"autoencoder"})
READABLE_DIRECTORY, READABLE_FILE = 0o755, 0o644
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# Keys source.json must have; write_entry fills the others.
_REQUIRED_INFO_KEYS = ("task_id", "evaluation_return")
# Keys write_entry derives from the module and frames; loading needs them.
_DERIVED_INFO_KEYS = ("observation_space", "action_space", "frame_size")
# Observations on which a stored module must reproduce the original's actions.
_VERIFICATION_OBSERVATIONS = 32

class RepositoryError(ValueError):
    """A repository or one of its entries is unusable. The message names the entry, its path and why."""

    @classmethod
    def for_entry(cls, name: str, path: Path, reason: str) -> "RepositoryError":
        return cls(f"source entry {name!r} at {path}: {reason}")


# ---------------------------------------------------------------------------------------------------
# Spaces: serialised to JSON so that a repository can be checked without unpickling anything.


def _float_to_json(value: float) -> float | str:
    """JSON has no infinity; the Kinematics observation is unbounded, so encode it as a string."""
    return value if math.isfinite(value) else str(value)


def serialize_space(space: gym.Space) -> dict[str, Any]:
    """A Box as plain JSON (shape, dtype, flattened low/high). FAST's spec only uses Box spaces."""
    if not isinstance(space, gym.spaces.Box):
        raise TypeError(f"only Box spaces can be stored in a repository, got {space!r}")
    return {
        "type": "Box",
        "shape": list(space.shape),
        "dtype": str(space.dtype),
        "low": [_float_to_json(float(v)) for v in space.low.reshape(-1)],
        "high": [_float_to_json(float(v)) for v in space.high.reshape(-1)],
    }


def deserialize_space(data: Mapping[str, Any]) -> gym.spaces.Box:
    if data.get("type") != "Box":
        raise ValueError(f"unsupported space type {data.get('type')!r} (only Box)")
    shape, dtype = tuple(int(n) for n in data["shape"]), np.dtype(data["dtype"])
    # Cast to the space's dtype here: the values were written from it, so the round trip is exact.
    low = np.array([float(v) for v in data["low"]], dtype=np.float64).astype(dtype).reshape(shape)
    high = np.array([float(v) for v in data["high"]], dtype=np.float64).astype(dtype).reshape(shape)
    return gym.spaces.Box(low, high, shape, dtype)


def _space_difference(stored: gym.Space, expected: gym.Space) -> str | None:
    """None when equal, else a short human description of how they differ."""
    try:
        stored_json, expected_json = serialize_space(stored), serialize_space(expected)
    except TypeError as error:
        return str(error)
    for key in ("type", "shape", "dtype", "low", "high"):
        if stored_json[key] != expected_json[key]:
            return f"{key} {stored_json[key]} != expected {expected_json[key]}"
    return None


# ---------------------------------------------------------------------------------------------------
# Policies


def policy_shapes(state: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape: what must match for a source's weights to load into a target's EnvRunner."""
    return {key: tuple(np.shape(value)) for key, value in state.items() if key != "weights_seq_no"}


def _shape_difference(stored: Mapping[str, Any], reference: Mapping[str, Any], label: str) -> str | None:
    stored_shapes, reference_shapes = policy_shapes(stored), policy_shapes(reference)
    if stored_shapes == reference_shapes:
        return None
    problems = []
    missing = sorted(set(reference_shapes) - set(stored_shapes))
    extra = sorted(set(stored_shapes) - set(reference_shapes))
    if missing:
        problems.append(f"missing tensors {missing[:4]}{' ...' if len(missing) > 4 else ''}")
    if extra:
        problems.append(f"extra tensors {extra[:4]}{' ...' if len(extra) > 4 else ''}")
    for key in sorted(set(stored_shapes) & set(reference_shapes)):
        if stored_shapes[key] != reference_shapes[key]:
            problems.append(f"{key} has shape {stored_shapes[key]}, expected {reference_shapes[key]}")
    return f"policy network shapes differ from {label}: " + "; ".join(problems[:6])


def inference_state_of(module: RLModule) -> dict[str, np.ndarray]:
    """The policy weights an EnvRunner needs, as numpy, without the EnvRunner's ``weights_seq_no``
    (a state without it is always applied; see the RLlib notes on the sequence-number trap)."""
    state = module.get_state(inference_only=True)
    return {key: np.asarray(value) for key, value in state.items() if key != "weights_seq_no"}


def inference_only_copy(module: RLModule) -> RLModule | None:
    """The module rebuilt from its spec with ``inference_only=True`` and the policy weights copied in.

    None when the module class has no inference-only form (then the full module must be stored).
    """
    module = module.unwrapped()
    if module.inference_only:
        return module
    if not isinstance(module, InferenceOnlyAPI):
        return None
    spec = RLModuleSpec.from_module(module)
    spec.inference_only = True
    copy = spec.build()
    copy.set_state(module.get_state(inference_only=True))
    return copy


def _actions_match(original: RLModule, stored: RLModule, observation_space: gym.Space) -> bool:
    """Same action distribution inputs on random observations: the stored module is the same policy."""
    rng = np.random.default_rng(0)
    observations = rng.standard_normal((_VERIFICATION_OBSERVATIONS, *observation_space.shape))
    batch = {Columns.OBS: torch.as_tensor(observations.astype(observation_space.dtype))}
    with torch.no_grad():
        expected = original.forward_inference(dict(batch))[Columns.ACTION_DIST_INPUTS]
        actual = stored.forward_inference(dict(batch))[Columns.ACTION_DIST_INPUTS]
    return torch.allclose(expected.cpu(), actual.cpu(), rtol=0.0, atol=1e-6)


# ---------------------------------------------------------------------------------------------------
# Entries


@dataclass(frozen=True, eq=False)
class SourceEntry:
    """One source as loaded from disk. Frames and returns are read-only arrays; the module is loaded on
    demand (it is the expensive part, and the similarity service only needs frames and text)."""

    name: str
    path: Path
    task_id: str
    task_config: dict
    description: str
    frames: np.ndarray  # uint8 (N, 4, H, W), best episode first
    episode_returns: np.ndarray  # float64 (N,)
    info: dict  # the whole source.json
    _inference_state: dict = field(default_factory=dict, repr=False)

    @property
    def module_path(self) -> Path:
        return self.path / MODULE_DIR

    @property
    def evaluation_return(self) -> float | None:
        return self.info.get("evaluation_return")

    def load_module(self) -> RLModule:
        """The stored policy as an RLModule (inference-only when the repository was written by us)."""
        try:
            return RLModule.from_checkpoint(self.module_path)
        except Exception as error:  # a checkpoint can fail in many ways; all mean "unusable"
            raise RepositoryError.for_entry(
                self.name, self.path, f"module checkpoint is unreadable ({type(error).__name__}: {error})"
            ) from error

    def inference_state(self) -> dict:
        """``module.get_state(inference_only=True)`` as numpy, without ``weights_seq_no``; cached, so
        broadcasting a source many times reads its checkpoint once. Treat the arrays as read-only."""
        if not self._inference_state:
            self._inference_state.update(inference_state_of(self.load_module()))
        return self._inference_state


def check_entry_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_PATTERN.match(name) or name in RESERVED_NAMES:
        raise ValueError(
            f"entry name {name!r} is not allowed: use 1-100 letters, digits, '_', '.', '-', not starting with "
            f"'.', '_' or '-' (hidden names are temp folders), and not one of {sorted(RESERVED_NAMES)}"
        )


def default_entry_name(task_id: str) -> str:
    """``fast/racetrack-v0`` -> ``racetrack-v0``: task ids contain a slash, entry names are folders."""
    return task_id.rsplit("/", 1)[-1]


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _frames_table(frames: np.ndarray, episode_returns: np.ndarray) -> pa.Table:
    """One row per episode: the stack's raw bytes, its shape (so the file is self-describing) and return."""
    return pa.table(
        {
            "frames": pa.array([stack.tobytes() for stack in frames], type=pa.binary()),
            "shape": pa.array([list(stack.shape) for stack in frames], type=pa.list_(pa.int32(), 3)),
            "episode_return": pa.array(episode_returns, type=pa.float64()),
        }
    )


def _decode_frames(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Raises ValueError describing what is wrong with the table's content."""
    missing = {"frames", "shape", "episode_return"} - set(table.column_names)
    if missing:
        raise ValueError(f"{FRAMES_FILE} lacks column(s) {sorted(missing)}")
    if table.num_rows == 0:
        raise ValueError(f"{FRAMES_FILE} holds no frame stacks (empty frames)")
    frames_type = table.schema.field("frames").type
    if not (pa.types.is_binary(frames_type) or pa.types.is_large_binary(frames_type)):
        raise ValueError(f"the frames column has type {frames_type}, expected binary (raw uint8 bytes)")
    stacks = []
    for row, (raw, shape) in enumerate(zip(table.column("frames").to_pylist(), table.column("shape").to_pylist())):
        if raw is None or shape is None or len(shape) != 3 or len(raw) != math.prod(shape):
            raise ValueError(f"row {row} of {FRAMES_FILE}: {0 if raw is None else len(raw)} bytes do not form a "
                             f"uint8 stack of shape {shape}")
        stacks.append(np.frombuffer(raw, dtype=np.uint8).reshape(shape))
    shapes = {stack.shape for stack in stacks}
    if len(shapes) != 1:
        raise ValueError(f"{FRAMES_FILE} mixes stack shapes {sorted(shapes)}")
    returns = np.asarray(table.column("episode_return").to_numpy(zero_copy_only=False), dtype=np.float64)
    return np.stack(stacks), returns


def check_frames(frames: np.ndarray, episode_returns: np.ndarray, frame_size: int | None = None) -> None:
    """Raises ValueError unless ``frames`` is a non-empty uint8 (N, 4, S, S) array of non-blank stacks with
    N finite float returns. Blank stacks mean rendering failed, and would make every similarity meaningless."""
    frames, episode_returns = np.asarray(frames), np.asarray(episode_returns)
    if frames.dtype != np.uint8:
        raise ValueError(f"frames have dtype {frames.dtype}, expected uint8")
    if frames.ndim != 4 or frames.shape[1] != STACK_LENGTH or frames.shape[2] != frames.shape[3]:
        raise ValueError(f"frames have shape {frames.shape}, expected (N, {STACK_LENGTH}, S, S)")
    if frames.shape[0] == 0:
        raise ValueError("frames are empty (no frame stacks)")
    if frame_size is not None and frames.shape[2] != frame_size:
        raise ValueError(f"frames are {frames.shape[2]} px square but source.json says frame_size={frame_size}")
    if episode_returns.shape != (frames.shape[0],):
        raise ValueError(f"{episode_returns.shape} episode returns for {frames.shape[0]} frame stacks")
    if not np.all(np.isfinite(episode_returns.astype(np.float64))):
        raise ValueError("episode returns must be finite numbers")
    flat = frames.reshape(frames.shape[0], -1)
    blank = np.flatnonzero(flat.min(axis=1) == flat.max(axis=1))
    if blank.size:
        raise ValueError(f"frame stack(s) {blank.tolist()} are blank (a single grey level): rendering failed")


def _check_checkpoint_files(module_dir: Path) -> None:
    """Raises FileNotFoundError naming the first missing checkpoint file (cheap: nothing is unpickled)."""
    if not module_dir.is_dir():
        raise FileNotFoundError(f"missing module checkpoint folder {MODULE_DIR}/")
    for file_name in _CHECKPOINT_FILES:
        if not (module_dir / file_name).is_file():
            raise FileNotFoundError(f"missing file {MODULE_DIR}/{file_name}")
    if not any((module_dir / f"{_CHECKPOINT_STATE_STEM}{suffix}").is_file() for suffix in (".pkl", ".msgpack")):
        raise FileNotFoundError(f"missing file {MODULE_DIR}/{_CHECKPOINT_STATE_STEM}.pkl")


def _read_entry(path: Path, name: str) -> SourceEntry:
    """Read the entry ``name`` stored in folder ``path``; check what can be checked without its module."""

    def fail(reason: str) -> RepositoryError:
        return RepositoryError.for_entry(name, path, reason)

    if not path.is_dir():
        raise fail("entry folder is missing")
    for file_name in (SOURCE_FILE, FRAMES_FILE):
        if not (path / file_name).is_file():
            raise fail(f"missing file {file_name}")
    try:
        _check_checkpoint_files(path / MODULE_DIR)
    except FileNotFoundError as error:
        raise fail(str(error)) from None
    try:
        info = _read_json(path / SOURCE_FILE)
    except (OSError, ValueError) as error:
        raise fail(f"{SOURCE_FILE} is unreadable ({error})") from error
    if not isinstance(info, dict):
        raise fail(f"{SOURCE_FILE} must hold a JSON object")
    missing = [key for key in (*_REQUIRED_INFO_KEYS, *_DERIVED_INFO_KEYS) if key not in info]
    if missing:
        raise fail(f"{SOURCE_FILE} lacks key(s) {missing}")
    try:
        frames, returns = _decode_frames(pq.read_table(path / FRAMES_FILE))
        check_frames(frames, returns, info["frame_size"])
    except (OSError, ValueError, pa.ArrowException) as error:
        raise fail(f"bad {FRAMES_FILE}: {error}") from error
    frames.flags.writeable = False
    returns.flags.writeable = False
    return SourceEntry(
        name=name,
        path=path,
        task_id=str(info["task_id"]),
        task_config=dict(info.get("task_config") or {}),
        description=str(info.get("description") or ""),
        frames=frames,
        episode_returns=returns,
        info=info,
    )


def _stored_space(entry: SourceEntry, key: str) -> gym.spaces.Box:
    try:
        return deserialize_space(entry.info[key])
    except (KeyError, TypeError, ValueError) as error:
        reason = f"{key} in {SOURCE_FILE} is unreadable ({type(error).__name__}: {error})"
        raise RepositoryError.for_entry(entry.name, entry.path, reason) from error


def _check_space(entry: SourceEntry, key: str, expected: gym.Space, origin: str) -> None:
    difference = _space_difference(_stored_space(entry, key), expected)
    if difference:
        raise RepositoryError.for_entry(entry.name, entry.path, f"{key} differs from {origin}: {difference}")


def _check_module(entry: SourceEntry, reference_state: Mapping[str, Any] | None, reference_label: str) -> None:
    """Load the checkpoint, check its spaces agree with source.json and its policy shapes with the reference."""
    module = entry.load_module()
    for key in ("observation_space", "action_space"):
        difference = _space_difference(getattr(module, key), _stored_space(entry, key))
        if difference:
            raise RepositoryError.for_entry(
                entry.name, entry.path, f"the module's {key} disagrees with {SOURCE_FILE}: {difference}"
            )
    entry._inference_state.update(inference_state_of(module))
    if reference_state is not None:
        difference = _shape_difference(entry._inference_state, reference_state, reference_label)
        if difference:
            raise RepositoryError.for_entry(entry.name, entry.path, difference)


# ---------------------------------------------------------------------------------------------------
# The repository


def _read_index(root: Path) -> list[str]:
    """Entry names listed in ``root/index.json``; RepositoryError if it is missing, unreadable or of an
    unknown format version (a newer fast-rllib may have changed the layout: refuse rather than guess)."""
    index_path = root / INDEX_FILE
    if not index_path.is_file():
        raise RepositoryError(f"no source repository at {root}: {INDEX_FILE} is missing")
    try:
        index = _read_json(index_path)
    except (OSError, ValueError) as error:
        raise RepositoryError(f"repository index {index_path} is unreadable ({error})") from error
    if not isinstance(index, dict) or index.get("format") != FORMAT_NAME:
        raise RepositoryError(f"{index_path} is not a fast-rllib repository index")
    if index.get("format_version") != FORMAT_VERSION:
        raise RepositoryError(
            f"{index_path} has format_version {index.get('format_version')!r}; this fast-rllib reads version "
            f"{FORMAT_VERSION} only"
        )
    names = index.get("entries")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
        raise RepositoryError(f"{index_path}: 'entries' must be a list of distinct entry names")
    return names


def entry_names(root: str | Path) -> list[str]:
    """The entries a repository folder lists; empty when it has no index yet (a build about to start)."""
    root = Path(root).resolve()
    return _read_index(root) if (root / INDEX_FILE).is_file() else []


def _write_index(root: Path, names: Sequence[str]) -> None:
    """Replace ``index.json`` atomically: a reader sees the old index or the new one, never a partial one."""
    content = json.dumps({"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "entries": list(names)}, indent=2)
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


@dataclass(frozen=True, eq=False)
class SourceRepository:
    """A validated, read-only view of a repository folder."""

    path: Path
    entries: tuple[SourceEntry, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.entries)

    @property
    def frame_size(self) -> int:
        return int(self.entries[0].frames.shape[-1])

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[SourceEntry]:
        return iter(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __getitem__(self, name: str) -> SourceEntry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(f"no source entry {name!r} in repository {self.path}; entries: {', '.join(self.names)}")

    @classmethod
    def load(
        cls,
        path: str | Path = DEFAULT_REPOSITORY,
        *,
        observation_space: gym.Space | None = None,
        action_space: gym.Space | None = None,
        reference_state: dict | None = None,
        check_modules: bool = True,
    ) -> "SourceRepository":
        """Load and validate every entry listed in the index.

        Spaces are compared with the given ones, or, when not given, with the first entry's: FAST needs
        every source to act in the same spaces. Frame sizes must agree across entries (one autoencoder
        embeds them all). With ``check_modules`` each checkpoint is loaded, its spaces checked and its
        policy network shapes compared with ``reference_state`` (or the first entry's), because a source
        whose weights do not fit the target's EnvRunner module would fail only at broadcast time.
        ``check_modules=False`` only checks the checkpoint files exist (fast: for frames and text).
        """
        if reference_state is not None and not check_modules:
            raise ValueError("reference_state needs check_modules=True: shapes are read from the checkpoints")
        root = Path(path).resolve()  # RLlib checkpoints go through pyarrow, which takes absolute paths only
        names = _read_index(root)
        if not names:
            raise RepositoryError(f"repository {root} has no entries; add one with `fast-rllib repo add`")
        entries = tuple(_read_entry(root / name, name) for name in names)
        first = entries[0]
        for key, given in (("observation_space", observation_space), ("action_space", action_space)):
            expected = given if given is not None else _stored_space(first, key)
            origin = "the expected one" if given is not None else f"entry {first.name!r}'s"
            for entry in entries:
                _check_space(entry, key, expected, origin)
        for entry in entries:
            if entry.frames.shape[-1] != first.frames.shape[-1]:
                reason = f"frames are {entry.frames.shape[-1]} px but entry {first.name!r} has {first.frames.shape[-1]} px"
                raise RepositoryError.for_entry(entry.name, entry.path, reason)
        if check_modules:
            _check_module(first, reference_state, "the reference state")
            if reference_state is None:
                reference_state, label = first._inference_state, f"entry {first.name!r}'s"
            else:
                label = "the reference state"
            for entry in entries[1:]:
                _check_module(entry, reference_state, label)
        return cls(root, entries)


# ---------------------------------------------------------------------------------------------------
# Writing


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


def _action_mode_for(action_space: gym.Space) -> str:
    return "steering" if action_space.shape == (1,) else "acceleration_steering"


def complete_info(
    info: Mapping[str, Any], name: str, module: RLModule, frames: np.ndarray, inference_only: bool
) -> dict:
    """source.json's content: the caller's facts about training and evaluation, plus what can be read off
    the module and frames (spaces, frame size, counts) and the environment (versions, time). Values the
    caller gave for the derived keys must agree with the derived ones."""
    missing = [key for key in _REQUIRED_INFO_KEYS if info.get(key) is None]
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
        "action_mode": _action_mode_for(module.action_space),
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


def _save_module(module: RLModule, directory: Path) -> tuple[RLModule, bool]:
    """Save the inference-only copy when there is one (else the full module); returns what was saved."""
    stored = inference_only_copy(module) or module.unwrapped()
    stored.save_to_path(directory)
    return stored, bool(stored.inference_only)


def _write_entry_files(
    directory: Path,
    name: str,
    module: RLModule,
    frames: np.ndarray,
    episode_returns: np.ndarray,
    info: Mapping[str, Any],
) -> None:
    """Everything of one entry into ``directory``, then read back and verified."""
    stored, inference_only = _save_module(module, directory / MODULE_DIR)
    pq.write_table(_frames_table(frames, episode_returns), directory / FRAMES_FILE, compression="zstd")
    source = complete_info(info, name, module, frames, inference_only)
    (directory / SOURCE_FILE).write_text(_readable_json(source) + "\n", encoding="utf-8")
    reloaded = _read_entry(directory, name).load_module()
    if not _actions_match(module, reloaded, module.observation_space):
        raise RuntimeError(f"the stored module of entry {name!r} does not reproduce the original's actions")


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
        existing = _read_json(root / others[0] / SOURCE_FILE)
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
    names = _read_index(root) if (root / INDEX_FILE).exists() else []
    target = root / name
    if (name in names or target.exists()) and not overwrite:
        raise FileExistsError(
            f"entry {name!r} already exists at {target}; pass overwrite=True (`repo add --overwrite`) to replace it"
        )

    _check_fits_repository(root, [other for other in names if other != name], module, frames)

    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    staging.chmod(READABLE_DIRECTORY)  # mkdtemp makes it private; the entry is read by every user
    backup: Path | None = None
    moved_in = False
    try:
        _write_entry_files(staging, name, module, frames, episode_returns, info)
        if target.exists():
            backup = Path(tempfile.mkdtemp(prefix=f".old-{name}-", dir=root))
            os.replace(target, backup / name)
        os.replace(staging, target)
        moved_in = True
        _write_index(root, names if name in names else [*names, name])
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
    return _read_entry(target, name)


# ---------------------------------------------------------------------------------------------------
# Recording episodes


def best_stacks(records: Sequence[EpisodeRecord], keep: int) -> tuple[np.ndarray, np.ndarray]:
    """The stacks and returns of the ``keep`` best episodes, best first (ties: earlier seed first).

    Episodes that ended before a 4-frame stack existed (a crash within 3 steps) have no stack; when
    fewer than ``keep`` episodes have one, all that do are kept (a weak source still shows its task), and
    only a policy with no such episode at all is refused.
    """
    usable = [record for record in records if record.stack is not None]
    if not usable:
        raise ValueError(
            f"none of {len(records)} episodes lasted the 3+ steps a {STACK_LENGTH}-frame stack needs: the "
            "policy ends every episode at once; record more episodes or train it further"
        )
    ranked = sorted(usable, key=lambda record: -record.episode_return)[:keep]
    stacks = np.stack([record.stack for record in ranked])
    returns = np.array([record.episode_return for record in ranked], dtype=np.float64)
    check_frames(stacks, returns)
    return stacks, returns


def record_episodes(
    task_id: str,
    policy: Policy,
    *,
    episodes: int,
    keep: int = 10,
    frame_size: int = DEFAULT_FRAME_SIZE,
    seed: int = 0,
    task_config: dict | None = None,
    action_mode: str = "steering",
) -> tuple[np.ndarray, np.ndarray]:
    """Drive ``task_id`` with ``policy`` and keep 4 consecutive frames from the middle of each of the
    ``keep`` best episodes by return: (uint8 (keep, 4, S, S), float64 (keep,)), best first.

    The best episodes show the source doing what it was trained for, which is what a target should be
    compared with; the paper takes their last 4 frames, which for an episode that ends off the road show
    the failure instead (see :func:`fast_rllib.evaluation.run_episodes`). Frames go through
    :class:`FrameCapture`, the same preprocessing as target frames.
    """
    if not 1 <= keep <= episodes:
        raise ValueError(f"keep={keep!r} must be between 1 and episodes={episodes!r}")
    records = run_episodes(
        task_id, policy, episodes=episodes, seed=seed, frame_size=frame_size,
        task_config=task_config, action_mode=action_mode,
    )
    return best_stacks(records, keep)


# ---------------------------------------------------------------------------------------------------
# Adding a trained policy: what `fast-rllib repo add` and a repository builder both do.


def resolve_module_checkpoint(path: str | Path) -> Path:
    """The RLModule checkpoint folder inside ``path``, which may be an RLModule checkpoint itself, an
    Algorithm checkpoint (``learner_group/learner/rl_module/default_policy``) or a MultiRLModule one."""
    path = Path(path)
    candidates = [path, path / "learner_group/learner/rl_module/default_policy", path / "default_policy"]
    for candidate in candidates:
        try:
            _check_checkpoint_files(candidate)
            return candidate
        except FileNotFoundError:
            continue
    raise FileNotFoundError(
        f"no RLModule checkpoint at {path}: looked for {', '.join(_CHECKPOINT_FILES)} and "
        f"{_CHECKPOINT_STATE_STEM}.pkl in {', '.join(str(c) for c in candidates)}"
    )


def _check_module_fits_task(module: RLModule, env: gym.Env, task_id: str) -> None:
    for key in ("observation_space", "action_space"):
        difference = _space_difference(getattr(module, key), getattr(env, key))
        if difference:
            raise ValueError(f"the module's {key} does not fit task {task_id!r}: {difference}")


def add_source(
    root: str | Path,
    module: RLModule,
    task_id: str,
    *,
    name: str | None = None,
    episodes: int = 15,
    keep: int = 10,
    frame_size: int = DEFAULT_FRAME_SIZE,
    seed: int = 0,
    task_config: dict | None = None,
    description: str | None = None,
    training_env_steps: int | None = None,
    baseline_episodes: int | None = None,
    overwrite: bool = False,
    extra_info: Mapping[str, Any] | None = None,
) -> SourceEntry:
    """Record, evaluate and store a trained policy as entry ``name`` (default: the task id's last part).

    The policy drives ``episodes`` episodes (seeds ``seed`` ...) with frames captured; the mean return of
    all of them is the evaluation return and the ``keep`` best give the frame stacks. The lane-following
    controller and a random policy run on the same seeds (``baseline_episodes`` of them, default
    ``episodes``; 0 skips them) so that every source's return can be read against a yardstick.
    """
    from fast_rllib.tasks.controller import LaneFollowingController

    name = name or default_entry_name(task_id)
    check_entry_name(name)
    action_mode = _action_mode_for(module.action_space)
    env = make_task_env(task_id, action_mode=action_mode, config=task_config)
    env.close()
    _check_module_fits_task(module, env, task_id)
    run = dict(seed=seed, task_config=task_config, action_mode=action_mode)
    records = run_episodes(task_id, module_policy(module), episodes=episodes, frame_size=frame_size, **run)
    frames, returns = best_stacks(records, keep)
    baseline_episodes = episodes if baseline_episodes is None else baseline_episodes
    baselines: dict[str, float | None] = {"controller_return": None, "random_return": None}
    if baseline_episodes > 0:
        for key, policy in (
            ("controller_return", LaneFollowingController(action_mode)),
            ("random_return", random_policy(env.action_space, seed)),
        ):
            baseline = run_episodes(task_id, policy, episodes=baseline_episodes, frame_size=None, **run)
            baselines[key] = mean_return(baseline)
    info = {
        "task_id": task_id,
        "task_config": task_config or {},
        "description": description,
        "training_env_steps": training_env_steps,
        "evaluation_return": mean_return(records),
        **baselines,
        "evaluation_episodes": episodes,
        "evaluation_seeds": list(range(seed, seed + episodes)),
        "evaluation_returns": [record.episode_return for record in records],
        **dict(extra_info or {}),
    }
    return write_entry(
        root, name, module=module, frames=frames, episode_returns=returns, info=info, overwrite=overwrite
    )
