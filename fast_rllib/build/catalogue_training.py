"""Training the frame autoencoder on the whole task catalogue (and a repository's cached frames).

This is what ``fast-rllib autoencoder train`` runs. The autoencoder must embed any target a user brings,
so it sees every catalogue task, driven two ways: by the lane follower (the on-road views a competent
policy produces, which is what source stacks look like) and by random actions (off-centre and off-road
views, which is what an untrained target produces early in training, when FAST matters most).
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np
import torch

from fast_rllib.atomic_write import write_json_atomically
from fast_rllib.build.autoencoder_training import TrainingReport, TrainingSettings, train_autoencoder
from fast_rllib.build.frame_collection import collect_frame_stacks
from fast_rllib.embedding.autoencoder import AutoencoderConfig, FrameAutoencoder
from fast_rllib.tasks import TASKS
from fast_rllib.tasks import task_ids as catalogue_task_ids
from fast_rllib.tasks.controller import LaneFollowingController

if TYPE_CHECKING:
    from fast_rllib.repository import SourceTask

REPORT_FILE = "autoencoder_training.json"


def collect_catalogue_stacks(
    frame_size: int,
    stacks_per_task: int,
    task_ids: Sequence[str] | None = None,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, np.ndarray]:
    """uint8 (stacks_per_task, 4, S, S) per task: half driven by the lane follower, half at random."""
    if stacks_per_task < 2:
        raise ValueError(f"stacks_per_task={stacks_per_task!r} must be >= 2 (half lane follower, half random)")
    stacks: dict[str, np.ndarray] = {}
    for index, task_id in enumerate(task_ids or list(TASKS)):
        following = stacks_per_task - stacks_per_task // 2
        task_seed = seed + 1000 * index
        stacks[task_id] = np.concatenate(
            [
                collect_frame_stacks(task_id, following, frame_size, LaneFollowingController(), seed=task_seed),
                collect_frame_stacks(task_id, stacks_per_task // 2, frame_size, None, seed=task_seed + 1),
            ]
        )
        progress(f"  {task_id}: {len(stacks[task_id])} stacks")
    return stacks


def repository_frame_stacks(repository_path: str | Path, frame_size: int) -> dict[str, np.ndarray]:
    """Every repository entry's cached stacks, refusing entries cached at another resolution."""
    from fast_rllib.repository import load_repository_sources
    from fast_rllib.tasks.frames import check_frame_stacks

    stacks: dict[str, np.ndarray] = {}
    for source in load_repository_sources(str(repository_path)):
        check_frame_stacks(source.frames, frame_size, f"cached frames of repository entry {source.name!r}")
        stacks[f"repository:{source.name}"] = source.frames
    return stacks


def training_report_payload(
    report: TrainingReport,
    config: AutoencoderConfig,
    settings: TrainingSettings,
    stacks_by_source: dict[str, np.ndarray],
    timings_s: dict[str, float],
) -> dict:
    return {
        "autoencoder": asdict(config),
        "settings": asdict(settings),
        **asdict(report),
        "mean_frame_over_validation_mse": report.improvement_over_mean_frame,
        "stacks": int(sum(len(value) for value in stacks_by_source.values())),
        "stacks_by_source": {name: int(len(value)) for name, value in stacks_by_source.items()},
        "seconds": {name: round(value, 1) for name, value in timings_s.items()},
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version()},
        "torch": torch.__version__,
    }


def train_catalogue_autoencoder(
    out_dir: str | Path,
    config: AutoencoderConfig = AutoencoderConfig(),
    stacks_per_task: int = 64,
    repository_path: str | Path | None = None,
    settings: TrainingSettings = TrainingSettings(),
    task_ids: Iterable[str] | None = None,
    progress: Callable[[str], None] = print,
) -> tuple[FrameAutoencoder, dict]:
    """Collect, train, save weights and the report (``autoencoder_training.json``) into ``out_dir``.

    ``task_ids`` defaults to every catalogue task except the held-out targets: an encoder that has
    learnt to reconstruct a target's frames has seen that target, which a transfer benchmark must not
    allow."""
    started = time.perf_counter()
    # The repository first: a frame size mismatch should fail before minutes of driving, not after.
    cached = repository_frame_stacks(repository_path, config.frame_size) if repository_path is not None else {}
    progress(f"collecting {stacks_per_task} stacks per catalogue task at {config.frame_size} px")
    if task_ids is None:
        task_ids = catalogue_task_ids(held_out=False)
    stacks = collect_catalogue_stacks(config.frame_size, stacks_per_task, list(task_ids), settings.seed, progress)
    stacks.update(cached)
    collected = time.perf_counter()
    progress(f"training on {sum(len(v) for v in stacks.values())} stacks")
    model, report = train_autoencoder(np.concatenate(list(stacks.values())), config, settings)
    trained = time.perf_counter()
    payload = training_report_payload(
        report, config, settings, stacks,
        {"collection": collected - started, "training": trained - collected, "total": trained - started},
    )
    out_dir = Path(out_dir)
    model.save(out_dir)
    write_json_atomically(out_dir / REPORT_FILE, payload)
    return model, payload


def catalogue_source_tasks(
    task_ids: Iterable[str],
    frame_size: int,
    stacks_per_task: int = 10,
    seed: int = 0,
    stride: int = 5,
) -> list[SourceTask]:
    """Catalogue tasks as similarity sources, frames driven by the lane follower (as a trained source's
    best episodes would look), for benchmarks and experiments before a trained repository exists."""
    from fast_rllib.repository import SourceTask

    return [
        SourceTask(
            task_id,
            collect_frame_stacks(task_id, stacks_per_task, frame_size, LaneFollowingController(), stride, seed + 1000 * index),
            TASKS[task_id].description,
        )
        for index, task_id in enumerate(task_ids)
    ]
