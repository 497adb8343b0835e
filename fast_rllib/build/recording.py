"""Turning a trained policy into an entry: drive its task on fixed seeds, keep frame stacks of the best
episodes, measure it against the lane follower and a random policy, and write it. What
`fast-rllib repo add` and `fast-rllib repo build` both run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import gymnasium as gym
import numpy as np
from ray.rllib.core.rl_module.rl_module import RLModule

from fast_rllib.build.evaluation import EpisodeRecord, mean_return, module_policy, random_policy, run_episodes
from fast_rllib.repository.layout import (
    CHECKPOINT_FILES,
    CHECKPOINT_STATE_STEM,
    action_mode_for,
    check_checkpoint_files,
    check_entry_name,
    check_frames,
    default_entry_name,
    space_difference,
)
from fast_rllib.repository.loading import SourceEntry, SourceRepository
from fast_rllib.repository.writing import write_entry
from fast_rllib.tasks import make_task_env
from fast_rllib.tasks.frames import DEFAULT_FRAME_SIZE, STACK_LENGTH

# Stacks kept from each recorded episode. A source stands for its task in every similarity query, and
# 10 stacks undersample a track: with 4 from each of the 10 best episodes the racing targets that the
# frames-only (F) energy metric of the day separated went from 3 to 5 of 10 (README, "Embeddings and
# similarity", step 8). The default nearest_cosine metric also expects every source to keep as many.
DEFAULT_STACKS_PER_EPISODE = 4
# Best recorded episodes whose frames a source keeps (of 15 recorded by default).
DEFAULT_KEPT_EPISODES = 10


def stack_positions(rank: int, kept: int, stacks_per_episode: int, available: int) -> list[int]:
    """Which of an episode's ``available`` stacks to keep, for the episode ranked ``rank`` of ``kept``.

    Stack ``j`` sits ``(j + (rank + 1/2) / kept) / stacks_per_episode`` of the way through the episode:
    each episode's stacks are evenly spaced, and successive episodes are offset from each other, so that
    together the kept stacks tile the whole course of an episode (straights and bends of a track) rather
    than repeating a few places. Short episodes give fewer stacks (a position is never kept twice).
    """
    fractions = ((j + (rank + 0.5) / kept) / stacks_per_episode for j in range(stacks_per_episode))
    return sorted({int(fraction * available) for fraction in fractions})


def best_stacks(
    records: Sequence[EpisodeRecord], keep: int, stacks_per_episode: int = DEFAULT_STACKS_PER_EPISODE
) -> tuple[np.ndarray, np.ndarray]:
    """``stacks_per_episode`` stacks from each of the ``keep`` best episodes, best episode first (ties:
    earlier seed first), each with its episode's return; positions from :func:`stack_positions`.

    Spreading them matters: a target is compared with the task, not with one corner of it (with the
    middle stack of every episode, no racing target was separated from the non-racing sources: README,
    "Embeddings and similarity"). The paper keeps the final stacks, which for an episode that ends off the
    road show the failure instead.

    Episodes that ended before a 4-frame stack existed (a crash within 3 steps) have no stack; when
    fewer than ``keep`` episodes have one, all that do are kept (a weak source still shows its task), and
    only a policy with no such episode at all is refused.
    """
    if keep < 1 or stacks_per_episode < 1:
        raise ValueError(f"keep={keep!r} and stacks_per_episode={stacks_per_episode!r} must be positive integers")
    usable = [record for record in records if record.stacks]
    if not usable:
        raise ValueError(
            f"none of {len(records)} episodes lasted the 3+ steps a {STACK_LENGTH}-frame stack needs: the "
            "policy ends every episode at once; record more episodes or train it further"
        )
    ranked = sorted(usable, key=lambda record: -record.episode_return)[:keep]
    chosen = [
        (record.stacks[position], record.episode_return)
        for rank, record in enumerate(ranked)
        for position in stack_positions(rank, len(ranked), stacks_per_episode, len(record.stacks))
    ]
    stacks = np.stack([stack for stack, _ in chosen])
    returns = np.array([episode_return for _, episode_return in chosen], dtype=np.float64)
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
    keep: int = DEFAULT_KEPT_EPISODES,
    stacks_per_episode: int = DEFAULT_STACKS_PER_EPISODE,
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
    all of them is the evaluation return and the ``keep`` best give ``stacks_per_episode`` frame stacks
    each (:func:`best_stacks`). The lane-following
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
    frames, returns = best_stacks(records, keep, stacks_per_episode)
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
        "stacks_per_episode": stacks_per_episode,
        **dict(extra_info or {}),
    }
    return write_entry(
        root, name, module=module, frames=frames, episode_returns=returns, info=info, overwrite=overwrite
    )


def record_again(
    root: str | Path,
    name: str,
    *,
    keep: int = DEFAULT_KEPT_EPISODES,
    stacks_per_episode: int = DEFAULT_STACKS_PER_EPISODE,
    frame_size: int | None = None,
    trust_pickles: bool = False,
) -> SourceEntry:
    """Re-drive entry ``name``'s stored policy on its evaluation seeds and replace its frame stacks (to keep
    more of them, or at another resolution) without retraining it.

    Policy and seeds are fixed, so the episodes are the ones first recorded: the evaluation return is
    re-measured (a change would mean the simulator changed) and the baselines, which do not depend on the
    policy, are kept. The entry is replaced atomically: an interrupted run leaves the old one in place (and a
    pickled entry, loaded only with ``trust_pickles``, comes back in the safetensors format).
    """
    entry = SourceRepository.load(root, check_modules=False, trust_pickles=trust_pickles)[name]
    seeds = entry.info.get("evaluation_seeds") or []
    if not seeds or seeds != list(range(seeds[0], seeds[0] + len(seeds))):
        raise ValueError(
            f"source {name!r} has evaluation_seeds={seeds!r} in source.json; re-recording needs the consecutive "
            "seeds `repo add` writes"
        )
    baselines = {key: entry.info.get(key) for key in ("controller_return", "random_return")}
    return add_source(
        root, entry.load_module(), entry.task_id, name=name, episodes=len(seeds), keep=keep,
        stacks_per_episode=stacks_per_episode, frame_size=frame_size or entry.frames.shape[-1], seed=seeds[0],
        task_config=entry.task_config or None, description=entry.description,
        training_env_steps=entry.info.get("training_env_steps"), baseline_episodes=0, overwrite=True,
        extra_info=baselines,
    )
