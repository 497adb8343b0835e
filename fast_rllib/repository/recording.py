"""Turning a trained policy into an entry: drive its task on fixed seeds, keep frame stacks of the best
episodes, measure it against the lane follower and a random policy, and write it. What
`fast-rllib repo add` and `fast-rllib repo build` both run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import gymnasium as gym
import numpy as np
from ray.rllib.core.rl_module.rl_module import RLModule

from fast_rllib.evaluation import EpisodeRecord, mean_return, module_policy, random_policy, run_episodes
from fast_rllib.repository.layout import (
    action_mode_for,
    check_checkpoint_files,
    check_entry_name,
    check_frames,
    CHECKPOINT_FILES,
    CHECKPOINT_STATE_STEM,
    default_entry_name,
    space_difference,
)
from fast_rllib.repository.loading import SourceEntry
from fast_rllib.repository.writing import write_entry
from fast_rllib.tasks import make_task_env
from fast_rllib.tasks.frames import DEFAULT_FRAME_SIZE, STACK_LENGTH


def best_stacks(records: Sequence[EpisodeRecord], keep: int) -> tuple[np.ndarray, np.ndarray]:
    """One stack from each of the ``keep`` best episodes, best first (ties: earlier seed first).

    The i-th of n kept episodes gives the stack (i + 1/2) / n of the way through it, so that together
    the stacks show the whole course of an episode (straights and bends of a track) rather than n views
    of one place: a target is compared with the task, not with one corner of it (with lane-follower
    frames taken this way, every racing source outscored every non-racing one for every racing target;
    with the middle stack of every episode, for none: README, "Embeddings and similarity"). The paper
    keeps the final stacks, which for an episode that ends off the road show the failure instead.

    Episodes that ended before a 4-frame stack existed (a crash within 3 steps) have no stack; when
    fewer than ``keep`` episodes have one, all that do are kept (a weak source still shows its task), and
    only a policy with no such episode at all is refused.
    """
    usable = [record for record in records if record.stacks]
    if not usable:
        raise ValueError(
            f"none of {len(records)} episodes lasted the 3+ steps a {STACK_LENGTH}-frame stack needs: the "
            "policy ends every episode at once; record more episodes or train it further"
        )
    ranked = sorted(usable, key=lambda record: -record.episode_return)[:keep]
    stacks = np.stack([
        record.stacks[int((rank + 0.5) / len(ranked) * len(record.stacks))] for rank, record in enumerate(ranked)
    ])
    returns = np.array([record.episode_return for record in ranked], dtype=np.float64)
    check_frames(stacks, returns)
    return stacks, returns


def resolve_module_checkpoint(path: str | Path) -> Path:
    """The RLModule checkpoint folder inside ``path``, which may be an RLModule checkpoint itself, an
    Algorithm checkpoint (``learner_group/learner/rl_module/default_policy``) or a MultiRLModule one."""
    path = Path(path)
    candidates = [path, path / "learner_group/learner/rl_module/default_policy", path / "default_policy"]
    for candidate in candidates:
        try:
            check_checkpoint_files(candidate)
            return candidate
        except FileNotFoundError:
            continue
    raise FileNotFoundError(
        f"no RLModule checkpoint at {path}: looked for {', '.join(CHECKPOINT_FILES)} and "
        f"{CHECKPOINT_STATE_STEM}.pkl in {', '.join(str(c) for c in candidates)}"
    )


def _check_module_fits_task(module: RLModule, env: gym.Env, task_id: str) -> None:
    for key in ("observation_space", "action_space"):
        difference = space_difference(getattr(module, key), getattr(env, key))
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
    action_mode = action_mode_for(module.action_space)
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
