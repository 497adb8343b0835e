"""Reading a repository: every entry validated on load, with a :class:`RepositoryError` that names the entry,
its path and the reason, so that a bad source fails here rather than deep inside a Ray worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import gymnasium as gym
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from ray.rllib.core.rl_module.rl_module import RLModule

from fast_rllib.repository import safe_module
from fast_rllib.repository.layout import (
    AUTOENCODER_DIR,
    AUTOENCODER_KEY,
    CHECKPOINT_FILES,
    CHECKPOINT_STATE_STEM,
    CHECKSUM_KEY,
    DEFAULT_REPOSITORY,
    DERIVED_INFO_KEYS,
    FORMAT_NAME,
    FORMAT_VERSION,
    FRAMES_FILE,
    INDEX_FILE,
    MODULE_DIR,
    OWN_AUTOENCODER,
    PICKLE_FORMAT,
    REQUIRED_INFO_KEYS,
    SAFE_FORMAT,
    SHIPPED_AUTOENCODER,
    SOURCE_FILE,
    RepositoryError,
    check_frames,
    size_problem,
    decode_frames,
    deserialize_space,
    read_json,
    space_difference,
    stored_module_format,
)
from fast_rllib.repository.policies import inference_state_of, shape_difference
from fast_rllib.repository.transfer_record import TRANSFER_RECORD_KEY, TransferRecord
from fast_rllib.tasks.frames import check_frame_stacks


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
    module_format: str = SAFE_FORMAT  # PICKLE_FORMAT: an RLlib checkpoint written before the safe format
    trust_pickles: bool = False  # the user's word that this entry's pickles may be loaded (they run code)
    _inference_state: dict = field(default_factory=dict, repr=False)
    _spaces: dict = field(default_factory=dict, repr=False)  # parsed source.json spaces (Box parsing is not free)

    @property
    def module_path(self) -> Path:
        return self.path / MODULE_DIR

    @property
    def evaluation_return(self) -> float | None:
        return self.info.get("evaluation_return")

    @property
    def transfer_record(self) -> TransferRecord | None:
        """How well this source drives the reference tracks (None for an entry measured before records)."""
        data = self.info.get(TRANSFER_RECORD_KEY)
        return None if data is None else TransferRecord.from_json(data, self.name, self.path)

    def load_module(self) -> RLModule:
        """The stored policy as an RLModule (inference-only when the repository was written by us).

        A safetensors entry is rebuilt from data alone. A pickled (RLlib checkpoint) entry is loaded only
        when the user trusted it (``trust_pickles``): unpickling runs whatever code its author put there.
        """
        if self.module_format == PICKLE_FORMAT:
            return self._load_pickled_module()
        observation_space, action_space = stored_space(self, "observation_space"), stored_space(self, "action_space")
        try:
            return safe_module.load_module(
                self.module_path, observation_space, action_space, self.info.get(CHECKSUM_KEY)
            )
        except safe_module.ModuleFileError as error:
            raise RepositoryError.for_entry(self.name, self.path, str(error)) from None

    def _load_pickled_module(self) -> RLModule:
        if not self.trust_pickles:
            raise RepositoryError.for_entry(self.name, self.path, untrusted_pickles_reason())
        try:
            return RLModule.from_checkpoint(self.module_path)
        except Exception as error:  # a checkpoint can fail in many ways; all mean "unusable"
            raise RepositoryError.for_entry(
                self.name, self.path, f"module checkpoint is unreadable ({type(error).__name__}: {error})"
            ) from error

    def policy_weights(self) -> dict[str, np.ndarray]:
        """The stored policy tensors read as data, without building the module: what a config's validation
        compares with the target's network, cheaply. A stored full module (or a pickled entry) is loaded for
        its inference-only part instead."""
        if self.module_format == PICKLE_FORMAT:
            return self.inference_state()
        recorded = self.info.get(CHECKSUM_KEY)
        try:
            if not safe_module.read_spec(self.module_path, recorded)["inference_only"]:
                return self.inference_state()
            return safe_module.read_weights(self.module_path, recorded)
        except safe_module.ModuleFileError as error:
            raise RepositoryError.for_entry(self.name, self.path, str(error)) from None

    def inference_state(self) -> dict:
        """``module.get_state(inference_only=True)`` as numpy, without ``weights_seq_no``; cached, so
        broadcasting a source many times reads its checkpoint once. Treat the arrays as read-only."""
        if not self._inference_state:
            self._inference_state.update(inference_state_of(self.load_module()))
        return self._inference_state


def untrusted_pickles_reason() -> str:
    """Why a pickled entry is refused, and the two ways on: trust it, or convert it once."""
    pickles = ", ".join(f"{MODULE_DIR}/{name}" for name in (*CHECKPOINT_FILES, f"{CHECKPOINT_STATE_STEM}.pkl"))
    return (
        f"the module is stored as pickles ({pickles}), which run code when loaded, and the repository is not "
        "trusted: if you trust its author, set trust_pickles=True (the config's training()) or pass --trust-pickles, "
        "or convert it to the safetensors format with `fast-rllib repo convert --trust-pickles`"
    )


def read_entry(path: Path, name: str, trust_pickles: bool = False) -> SourceEntry:
    """Read the entry ``name`` stored in folder ``path``; check what can be checked without its module
    (files, frames, and the module files' recorded SHA-256; nothing is unpickled here)."""

    def fail(reason: str) -> RepositoryError:
        return RepositoryError.for_entry(name, path, reason)

    if not path.is_dir():
        raise fail("entry folder is missing")
    for file_name in (SOURCE_FILE, FRAMES_FILE):
        if not (path / file_name).is_file():
            raise fail(f"missing file {file_name}")
    try:
        module_format = stored_module_format(path / MODULE_DIR)
    except FileNotFoundError as error:
        raise fail(str(error)) from None
    try:
        info = read_json(path / SOURCE_FILE)
    except (OSError, ValueError) as error:
        raise fail(f"{SOURCE_FILE} is unreadable ({error})") from error
    if not isinstance(info, dict):
        raise fail(f"{SOURCE_FILE} must hold a JSON object")
    missing = [key for key in (*REQUIRED_INFO_KEYS, *DERIVED_INFO_KEYS) if key not in info]
    if missing:
        raise fail(f"{SOURCE_FILE} lacks key(s) {missing}")
    if CHECKSUM_KEY in info:  # entries written before checksums existed are checked by loading instead
        problem = size_problem(path / MODULE_DIR, info[CHECKSUM_KEY])
        if problem:
            raise fail(problem)
    try:
        frames, returns = decode_frames(pq.read_table(path / FRAMES_FILE))
        check_frames(frames, returns, info["frame_size"])
    except (OSError, ValueError, pa.ArrowException) as error:
        raise fail(f"bad {FRAMES_FILE}: {error}") from error
    if TRANSFER_RECORD_KEY in info:  # checked here, on the driver, so that a bad record is named at load time
        TransferRecord.from_json(info[TRANSFER_RECORD_KEY], name, path)
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
        module_format=module_format,
        trust_pickles=trust_pickles,
    )


def stored_space(entry: SourceEntry, key: str) -> gym.Space:
    """The entry's ``observation_space`` or ``action_space`` from source.json, parsed once per entry."""
    if key in entry._spaces:
        return entry._spaces[key]
    try:
        return entry._spaces.setdefault(key, deserialize_space(entry.info[key]))
    except (KeyError, TypeError, ValueError) as error:
        reason = f"{key} in {SOURCE_FILE} is unreadable ({type(error).__name__}: {error})"
        raise RepositoryError.for_entry(entry.name, entry.path, reason) from error


def check_space(entry: SourceEntry, key: str, expected: gym.Space, origin: str) -> None:
    difference = space_difference(stored_space(entry, key), expected)
    if difference:
        raise RepositoryError.for_entry(entry.name, entry.path, f"{key} differs from {origin}: {difference}")


def check_weights(entry: SourceEntry, reference_state: Mapping[str, Any] | None, reference_label: str) -> dict:
    """Read the policy weights (no module is built) and check their shapes against the reference; returns them."""
    weights = entry.policy_weights()
    if reference_state is not None:
        difference = shape_difference(weights, reference_state, reference_label)
        if difference:
            raise RepositoryError.for_entry(entry.name, entry.path, difference)
    return weights


def check_module(entry: SourceEntry, reference_state: Mapping[str, Any] | None, reference_label: str) -> dict:
    """Load the module, check its spaces agree with source.json and its policy shapes with the reference;
    returns its inference state."""
    module = entry.load_module()
    for key in ("observation_space", "action_space"):
        difference = space_difference(getattr(module, key), stored_space(entry, key))
        if difference:
            raise RepositoryError.for_entry(
                entry.name, entry.path, f"the module's {key} disagrees with {SOURCE_FILE}: {difference}"
            )
    entry._inference_state.update(inference_state_of(module))
    if reference_state is not None:
        difference = shape_difference(entry._inference_state, reference_state, reference_label)
        if difference:
            raise RepositoryError.for_entry(entry.name, entry.path, difference)
    return entry._inference_state


def read_index(root: Path) -> list[str]:
    """Entry names listed in ``root/index.json``; RepositoryError if it is missing, unreadable or of an
    unknown format version (a newer fast-rllib may have changed the layout: refuse rather than guess)."""
    return read_index_document(root)["entries"]


def autoencoder_choice(root: Path) -> str:
    """Which autoencoder scores the repository's frames: ``"own"`` (its ``autoencoder`` folder; also for a
    folder with no index yet) or ``"shipped"``; RepositoryError naming any other value."""
    if not (Path(root) / INDEX_FILE).is_file():
        return OWN_AUTOENCODER
    return read_index_document(Path(root)).get(AUTOENCODER_KEY, OWN_AUTOENCODER)


def read_index_document(root: Path) -> dict[str, Any]:
    """The whole of ``root/index.json``, every key checked (see :func:`read_index`)."""
    index_path = root / INDEX_FILE
    if not index_path.is_file():
        raise RepositoryError(f"no source repository at {root}: {INDEX_FILE} is missing")
    try:
        index = read_json(index_path)
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
    choice = index.get(AUTOENCODER_KEY, OWN_AUTOENCODER)
    if choice not in (OWN_AUTOENCODER, SHIPPED_AUTOENCODER):
        raise RepositoryError(
            f"{index_path}: {AUTOENCODER_KEY!r} is {choice!r}; allowed values: {OWN_AUTOENCODER!r} (the "
            f"repository's own {AUTOENCODER_DIR} folder) or {SHIPPED_AUTOENCODER!r} (the weights shipped with fast-rllib)"
        )
    return index


def entry_names(root: str | Path) -> list[str]:
    """The entries a repository folder lists; empty when it has no index yet (a build about to start)."""
    root = Path(root).resolve()
    return read_index(root) if (root / INDEX_FILE).is_file() else []


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
        trust_pickles: bool = False,
        states_only: bool = False,
    ) -> "SourceRepository":
        """Load and validate every entry listed in the index.

        Spaces are compared with the given ones, or, when not given, with the first entry's: FAST needs
        every source to act in the same spaces. Frame sizes must agree across entries (one autoencoder
        embeds them all). With ``check_modules`` each checkpoint is loaded, its spaces checked and its
        policy network shapes compared with ``reference_state`` (or the first entry's), because a source
        whose weights do not fit the target's EnvRunner module would fail only at broadcast time.
        ``states_only`` reads each module's weights and compares their shapes without building the module
        (what a config's validation does on the driver). ``check_modules=False`` only checks the module
        files exist and match their recorded SHA-256 (fast: for frames and text). ``trust_pickles`` lets entries still stored as pickles (RLlib checkpoints)
        load; without it such an entry fails when its module is loaded, before anything is unpickled.
        """
        if reference_state is not None and not check_modules:
            raise ValueError("reference_state needs check_modules=True: shapes are read from the checkpoints")
        root = Path(path).resolve()  # RLlib checkpoints go through pyarrow, which takes absolute paths only
        names = read_index(root)
        if not names:
            raise RepositoryError(f"repository {root} has no entries; add one with `fast-rllib repo add`")
        entries = tuple(read_entry(root / name, name, trust_pickles) for name in names)
        first = entries[0]
        for key, given in (("observation_space", observation_space), ("action_space", action_space)):
            expected = given if given is not None else stored_space(first, key)
            origin = "the expected one" if given is not None else f"entry {first.name!r}'s"
            for entry in entries:
                check_space(entry, key, expected, origin)
        for entry in entries:
            if entry.frames.shape[-1] != first.frames.shape[-1]:
                reason = f"frames are {entry.frames.shape[-1]} px but entry {first.name!r} has {first.frames.shape[-1]} px"
                raise RepositoryError.for_entry(entry.name, entry.path, reason)
        if check_modules:
            check = check_weights if states_only else check_module
            first_state = check(first, reference_state, "the reference state")
            if reference_state is None:
                reference_state, label = first_state, f"entry {first.name!r}'s"
            else:
                label = "the reference state"
            for entry in entries[1:]:
                check(entry, reference_state, label)
        return cls(root, entries)


@dataclass(frozen=True)
class SourceTask:
    """What the index needs of one source: its name, its cached frame stacks and its description."""

    name: str
    frames: np.ndarray
    description: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"source name {self.name!r} is empty")
        check_frame_stacks(self.frames, what=f"frames of source {self.name!r}")


def load_repository_sources(repository_path: str | Path) -> list[SourceTask]:
    """Every repository entry as a :class:`SourceTask` (policy modules are not loaded: only frames and text)."""
    repository = SourceRepository.load(repository_path, check_modules=False)
    return [SourceTask(entry.name, np.asarray(entry.frames), entry.description) for entry in repository]
