"""``fast-rllib repo check``: every entry of a repository verified, each problem named, none stopping the rest.

Loading (:meth:`SourceRepository.load`) stops at the first bad entry, which is what a training run wants.
Someone about to share or use a repository wants the whole list: which entries are bad and why. Each entry
is read (files, recorded SHA-256, frames), compared with the first good entry (spaces, frame size, policy
shapes), its module loaded and driven on fixed random observations (the actions must be finite), and the
repository's autoencoder, if it has one, loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from fast_rllib.repository.layout import AUTOENCODER_DIR, RepositoryError
from fast_rllib.repository.loading import SourceEntry, check_module, check_space, read_entry, read_index, stored_space
from fast_rllib.repository.policies import action_inputs


@dataclass(frozen=True)
class EntryCheck:
    """The verdict on one entry (or on the repository's autoencoder): ``problem`` is None when it is good."""

    name: str
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _checked(name: str, check: Callable[[], None]) -> EntryCheck:
    try:
        check()
    except RepositoryError as error:
        return EntryCheck(name, str(error))
    return EntryCheck(name)


def _check_against(entry: SourceEntry, first: SourceEntry | None) -> None:
    """Spaces, frame size and policy shapes against the first good entry; the module must act finitely."""
    if first is not None:
        for key in ("observation_space", "action_space"):
            check_space(entry, key, stored_space(first, key), f"entry {first.name!r}'s")
        if entry.frames.shape[-1] != first.frames.shape[-1]:
            reason = f"frames are {entry.frames.shape[-1]} px but entry {first.name!r} has {first.frames.shape[-1]} px"
            raise RepositoryError.for_entry(entry.name, entry.path, reason)
    reference = first.inference_state() if first is not None else None
    check_module(entry, reference, f"entry {first.name!r}'s" if first is not None else "")
    module = entry.load_module()
    if not torch.isfinite(action_inputs(module, module.observation_space)).all():
        raise RepositoryError.for_entry(entry.name, entry.path, "the module's actions are not finite (NaN or inf weights)")


def _check_autoencoder(root: Path) -> EntryCheck | None:
    directory = root / AUTOENCODER_DIR
    if not directory.is_dir():
        return None
    from fast_rllib.embedding.autoencoder import FrameAutoencoder

    try:
        FrameAutoencoder.load(directory)
    except (OSError, ValueError) as error:
        return EntryCheck(AUTOENCODER_DIR, f"autoencoder at {directory}: {error}")
    return EntryCheck(AUTOENCODER_DIR)


def check_repository(root: str | Path, trust_pickles: bool = False) -> list[EntryCheck]:
    """One :class:`EntryCheck` per index entry (in index order), then the autoencoder's if there is one.
    Raises RepositoryError only when the repository itself (its index) is unreadable."""
    root = Path(root).resolve()
    checks: list[EntryCheck] = []
    first: SourceEntry | None = None
    for name in read_index(root):
        entry: list[SourceEntry] = []
        verdict = _checked(name, lambda: entry.append(read_entry(root / name, name, trust_pickles)))
        if verdict.ok:
            verdict = _checked(name, lambda: _check_against(entry[0], first))
        if verdict.ok and first is None:
            first = entry[0]
        checks.append(verdict)
    autoencoder = _check_autoencoder(root)
    return checks + ([autoencoder] if autoencoder is not None else [])
