"""The source repository on disk: the frozen policies FAST can hand control to, and what they look like.

Layout of a repository folder::

    index.json            {"format": "fast-rllib-repository", "format_version": 1, "entries": [names]},
                          optionally "autoencoder": "shipped" (score with the shipped weights, not its own)
    <name>/module/        the policy as data: spec.json (allowlisted module class, model config) and
                          weights.safetensors (inference-only SAC policy when possible); entries written
                          before that format hold an RLlib checkpoint (pickles) instead
    <name>/frames.parquet one row per kept 4-frame stack (uint8; a few from each of the best recorded episodes,
                          together covering an episode from start to end) and its episode's return
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
* An entry is data, not code: unpickling runs whatever code a file names, and repositories are meant to be
  shared. Modules are rebuilt from a JSON spec naming an allowlisted class and safetensors weights; an old
  entry that still holds pickles is loaded only when the user trusts it (``trust_pickles``).
* The module files' SHA-256 is recorded in source.json and checked on every read, so a truncated or
  altered file is named before anything is built from it (older entries are checked by loading).
* Policies are stored inference-only (the policy network alone, about 1/18 of a full SAC module with
  256x256 nets): the EnvRunners only ever need that part, and it keeps the shipped wheel small.

The package: :mod:`.layout` (the on-disk format), :mod:`.safe_module` (a module as spec and safetensors),
:mod:`.policies` (stored policies and their checks), :mod:`.loading` (``SourceRepository.load``),
:mod:`.writing` (atomic writes, conversion of pickled entries), :mod:`.checking` (``fast-rllib repo check``).
Turning a trained policy into an entry is build work: :mod:`fast_rllib.build.recording`.
"""

from fast_rllib.repository.layout import DEFAULT_REPOSITORY, DISCRETE_REPOSITORY, INDEX_FILE, RepositoryError, default_entry_name
from fast_rllib.repository.loading import (
    SourceEntry,
    SourceRepository,
    SourceTask,
    entry_names,
    load_repository_sources,
)
from fast_rllib.repository.writing import convert_entry, remove_entry, write_entry

__all__ = [
    "DEFAULT_REPOSITORY",
    "DISCRETE_REPOSITORY",
    "INDEX_FILE",
    "RepositoryError",
    "SourceEntry",
    "SourceRepository",
    "SourceTask",
    "convert_entry",
    "default_entry_name",
    "entry_names",
    "load_repository_sources",
    "remove_entry",
    "write_entry",
]
