"""What a repository looks like on disk: file names, the index format, entry names, and how spaces and
frame stacks are serialised. Everything here reads or checks bytes; nothing trains, records or loads a policy."""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any, Mapping

import gymnasium as gym
import numpy as np
import pyarrow as pa

from fast_rllib.tasks.frames import STACK_LENGTH

DEFAULT_REPOSITORY: Path = Path(__file__).resolve().parent.parent / "zoo"
# The shipped sources for discrete-action (DQN) targets: DQN Q networks on the tasks' discrete-steering
# variant (``fast-rllib repo build --algorithm dqn``); its index names the shipped autoencoder.
DISCRETE_REPOSITORY: Path = Path(__file__).resolve().parent.parent / "zoo_discrete"
FORMAT_NAME = "fast-rllib-repository"
FORMAT_VERSION = 1
INDEX_FILE = "index.json"
# The folder of a repository's own frame autoencoder, if it has one (a reserved name: never an entry's).
AUTOENCODER_DIR = "autoencoder"
# index.json key: which autoencoder scores the repository's frames. Its own AUTOENCODER_DIR folder (the
# default, and what a missing key means), or the weights shipped with fast-rllib, for a repository of
# catalogue tasks that carries no copy of its own.
AUTOENCODER_KEY = "autoencoder"
OWN_AUTOENCODER, SHIPPED_AUTOENCODER = "own", "shipped"
MODULE_DIR = "module"
FRAMES_FILE = "frames.parquet"
SOURCE_FILE = "source.json"
# Files RLModule.save_to_path writes; the state file may be .pkl or .msgpack. Entries written before the
# safetensors format hold these (pickles: loaded only when the user trusts the repository).
CHECKPOINT_FILES = ("class_and_ctor_args.pkl",)
CHECKPOINT_STATE_STEM = "module_state"
# An entry's module as data (fast_rllib.repository.safe_module): the spec and the weights.
SPEC_FILE = "spec.json"
WEIGHTS_FILE = "weights.safetensors"
SAFE_MODULE_FILES = (SPEC_FILE, WEIGHTS_FILE)
SAFE_FORMAT, PICKLE_FORMAT = "safetensors", "pickle"
# source.json key: module file name -> {"bytes": size, "sha256": hex digest}, written with the entry. Sizes are
# checked on every read (a stat: catches a truncated copy), digests whenever the file's bytes are read.
CHECKSUM_KEY = "module_files"
# Folder names a repository root uses for something other than entries.
RESERVED_NAMES = frozenset({AUTOENCODER_DIR})
READABLE_DIRECTORY, READABLE_FILE = 0o755, 0o644
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# Keys source.json must have; write_entry fills the others.
REQUIRED_INFO_KEYS = ("task_id", "evaluation_return")
# Keys write_entry derives from the module and frames; loading needs them.
DERIVED_INFO_KEYS = ("observation_space", "action_space", "frame_size")


class RepositoryError(ValueError):
    """A repository or one of its entries is unusable. The message names the entry, its path and why."""

    @classmethod
    def for_entry(cls, name: str, path: Path, reason: str) -> "RepositoryError":
        return cls(f"source entry {name!r} at {path}: {reason}")


def _float_to_json(value: float) -> float | str:
    """JSON has no infinity; the Kinematics observation is unbounded, so encode it as a string."""
    return value if math.isfinite(value) else str(value)


def serialize_space(space: gym.Space) -> dict[str, Any]:
    """A Box (shape, dtype, flattened low/high) or a Discrete (n, start) space as plain JSON: FAST's spec
    uses Box observations and Box or Discrete actions."""
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if not isinstance(space, gym.spaces.Box):
        raise TypeError(f"only Box and Discrete spaces can be stored in a repository, got {space!r}")
    return {
        "type": "Box",
        "shape": list(space.shape),
        "dtype": str(space.dtype),
        "low": [_float_to_json(float(v)) for v in space.low.reshape(-1)],
        "high": [_float_to_json(float(v)) for v in space.high.reshape(-1)],
    }


def deserialize_space(data: Mapping[str, Any]) -> gym.spaces.Box | gym.spaces.Discrete:
    if data.get("type") == "Discrete":
        return gym.spaces.Discrete(int(data["n"]), start=int(data.get("start", 0)))
    if data.get("type") != "Box":
        raise ValueError(f"unsupported space type {data.get('type')!r} (only Box and Discrete)")
    shape, dtype = tuple(int(n) for n in data["shape"]), np.dtype(data["dtype"])
    # Cast to the space's dtype here: the values were written from it, so the round trip is exact.
    low = np.array([float(v) for v in data["low"]], dtype=np.float64).astype(dtype).reshape(shape)
    high = np.array([float(v) for v in data["high"]], dtype=np.float64).astype(dtype).reshape(shape)
    return gym.spaces.Box(low, high, shape, dtype)


def space_difference(stored: gym.Space, expected: gym.Space) -> str | None:
    """None when equal, else a short human description of how they differ."""
    try:
        stored_json, expected_json = serialize_space(stored), serialize_space(expected)
    except TypeError as error:
        return str(error)
    for key in ("type", "n", "start", "shape", "dtype", "low", "high"):
        if stored_json.get(key) != expected_json.get(key):
            return f"{key} {stored_json.get(key)} != expected {expected_json.get(key)}"
    return None


def action_mode_for(action_space: gym.Space) -> str:
    """The task spec's action mode (fast_rllib.tasks.spec) whose action space this is."""
    if isinstance(action_space, gym.spaces.Discrete):
        return "discrete_steering"
    return "steering" if action_space.shape == (1,) else "acceleration_steering"


def check_entry_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or name in RESERVED_NAMES:
        raise ValueError(
            f"entry name {name!r} is not allowed: use 1-100 letters, digits, '_', '.', '-', not starting with "
            f"'.', '_' or '-' (hidden names are temp folders), and not one of {sorted(RESERVED_NAMES)}"
        )


def default_entry_name(task_id: str) -> str:
    """``fast/racetrack-v0`` -> ``racetrack-v0``: task ids contain a slash, entry names are folders."""
    return task_id.rsplit("/", 1)[-1]


def file_record(data: bytes) -> dict[str, Any]:
    """What source.json records of one module file."""
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _records_problem(recorded: Any) -> str | None:
    if not isinstance(recorded, dict) or not all(
        isinstance(name, str) and Path(name).name == name and not name.startswith(".")
        and isinstance(record, dict) and isinstance(record.get("bytes"), int) and isinstance(record.get("sha256"), str)
        for name, record in recorded.items()
    ):
        return (f"{CHECKSUM_KEY} in {SOURCE_FILE} must map {MODULE_DIR}/ file names to "
                '{"bytes": size, "sha256": hex digest}')
    return None


def size_problem(module_dir: Path, recorded: Any) -> str | None:
    """None when every recorded module file exists with its recorded size (a stat per file, no read),
    else what is wrong with which file."""
    problem = _records_problem(recorded)
    if problem:
        return problem
    for file_name, record in recorded.items():
        path = module_dir / file_name
        if not path.is_file():
            return f"missing file {MODULE_DIR}/{file_name}"
        size = path.stat().st_size
        if size != record["bytes"]:
            return (f"{MODULE_DIR}/{file_name} is damaged ({size} bytes, {SOURCE_FILE} records {record['bytes']}): "
                    "truncated or changed after it was written")
    return None


def digest_problem(file_name: str, data: bytes, recorded: Any) -> str | None:
    """None when ``data`` (the bytes of module file ``file_name``) is what source.json recorded, or when
    nothing is recorded for it (an entry from before checksums: loading it is the check)."""
    if not isinstance(recorded, dict) or file_name not in recorded:
        return None
    problem = _records_problem(recorded)
    if problem:
        return problem
    if file_record(data) != recorded[file_name]:
        return (f"{MODULE_DIR}/{file_name} is damaged ({len(data)} bytes): its SHA-256 differs from the one "
                f"{SOURCE_FILE} records (changed after it was written)")
    return None


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def frames_table(frames: np.ndarray, episode_returns: np.ndarray) -> pa.Table:
    """One row per episode: the stack's raw bytes, its shape (so the file is self-describing) and return."""
    return pa.table(
        {
            "frames": pa.array([stack.tobytes() for stack in frames], type=pa.binary()),
            "shape": pa.array([list(stack.shape) for stack in frames], type=pa.list_(pa.int32(), 3)),
            "episode_return": pa.array(episode_returns, type=pa.float64()),
        }
    )


def decode_frames(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
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


def stored_module_format(module_dir: Path) -> str:
    """:data:`SAFE_FORMAT` or :data:`PICKLE_FORMAT` (nothing is read or unpickled); FileNotFoundError naming
    the first missing file. A folder with any safetensors file is judged as the safe format, so a damaged
    new entry is never silently loaded through leftover pickles."""
    if not module_dir.is_dir():
        raise FileNotFoundError(f"missing module folder {MODULE_DIR}/")
    if any((module_dir / file_name).exists() for file_name in SAFE_MODULE_FILES):
        for file_name in SAFE_MODULE_FILES:
            if not (module_dir / file_name).is_file():
                raise FileNotFoundError(f"missing file {MODULE_DIR}/{file_name}")
        return SAFE_FORMAT
    if not any((module_dir / name).exists() for name in (*CHECKPOINT_FILES, f"{CHECKPOINT_STATE_STEM}.pkl")):
        raise FileNotFoundError(f"missing files {MODULE_DIR}/{SPEC_FILE} and {MODULE_DIR}/{WEIGHTS_FILE}")
    check_checkpoint_files(module_dir)
    return PICKLE_FORMAT


def check_checkpoint_files(module_dir: Path) -> None:
    """Raises FileNotFoundError naming the first missing checkpoint file (cheap: nothing is unpickled)."""
    if not module_dir.is_dir():
        raise FileNotFoundError(f"missing module checkpoint folder {MODULE_DIR}/")
    for file_name in CHECKPOINT_FILES:
        if not (module_dir / file_name).is_file():
            raise FileNotFoundError(f"missing file {MODULE_DIR}/{file_name}")
    if not any((module_dir / f"{CHECKPOINT_STATE_STEM}{suffix}").is_file() for suffix in (".pkl", ".msgpack")):
        raise FileNotFoundError(f"missing file {MODULE_DIR}/{CHECKPOINT_STATE_STEM}.pkl")
