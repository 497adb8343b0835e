"""A transition-level replay buffer on preallocated numpy arrays, fed with RLlib episodes.

Stock RLlib SAC replays from an episode buffer: every sample of 256 rebuilds 256 ``SingleAgentEpisode``
objects and then runs the learner connector pipeline over them, which costs more than the network itself
(benchmarks/update_speed.py, benchmarks/results/update_speed.json). SAC only ever needs single transitions, so this buffer unpacks
each sampled episode chunk once, on arrival, into flat arrays (with the n-step return already folded in)
and samples a batch as a handful of numpy fancy-indexing calls, already in the train-batch layout that
RLlib's SAC learner consumes (``Columns.OBS``, ``NEXT_OBS``, ``ACTIONS``, ``REWARDS``, ``TERMINATEDS``,
``"weights"``, ``"n_step"``).

Semantics match RLlib's episode buffers: an n-step transition sums ``gamma^k * r`` over up to ``n``
steps of one episode, bootstraps from the observation it ends on, is terminal only if the episode
terminated within it (a truncation bootstraps), and shorter windows at an episode's end carry their own
``n_step`` so that the learner discounts the bootstrap by ``gamma ** n_step``. Prioritised sampling
follows Schaul et al. (2016) as RLlib's ``PrioritizedEpisodeReplayBuffer`` does: new transitions get the
largest priority seen so far, updates store ``max(|td|, 1e-12) ** alpha``, and importance weights are
``(N * P(i)) ** -beta`` divided by the largest possible weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
from ray.rllib.core.columns import Columns
from ray.rllib.env.single_agent_episode import SingleAgentEpisode

from fast_rllib.training.sum_tree import PriorityTrees

_MIN_PRIORITY = 1e-12


@dataclass(frozen=True)
class Transitions:
    """A block of n-step transitions, each row one transition."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminateds: np.ndarray
    n_steps: np.ndarray

    def __len__(self) -> int:
        return len(self.rewards)


@dataclass
class _PendingSteps:
    """The last (< n) steps of an unfinished episode, waiting for the future rewards of their window."""

    observations: np.ndarray  # (k + 1, obs_dim): k steps and the observation after the last one
    actions: np.ndarray
    rewards: np.ndarray


class NStepAssembler:
    """Turns a stream of episode chunks into n-step transitions.

    RLlib EnvRunners return episodes in chunks (one per ``sample()`` call) that continue each other under
    the same episode id. A step's n-step window may span chunks, so the last ``n - 1`` steps of an
    unfinished chunk wait here until the next chunk of the same episode arrives.
    """

    def __init__(self, n_step: int, gamma: float) -> None:
        if isinstance(n_step, bool) or not isinstance(n_step, int) or n_step < 1:
            raise ValueError(f"n_step={n_step!r} is not supported by the fast replay buffer; allowed values: an integer >= 1")
        self.n_step = n_step
        self.gamma = gamma
        self._pending: dict[str, _PendingSteps] = {}

    @property
    def pending_episodes(self) -> int:
        return len(self._pending)

    def add_episode(self, episode: SingleAgentEpisode) -> Transitions | None:
        if len(episode) == 0:
            return None
        return self.add_chunk(
            episode.id_,
            observations=np.asarray(episode.get_observations(), dtype=np.float32),
            actions=np.asarray(episode.get_actions(), dtype=np.float32),
            rewards=np.asarray(episode.get_rewards(), dtype=np.float32),
            terminated=episode.is_terminated,
            done=episode.is_done,
        )

    def add_chunk(
        self,
        episode_id: str,
        *,
        observations: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        terminated: bool,
        done: bool,
    ) -> Transitions:
        """``observations`` has one row more than ``actions`` and ``rewards``: the one after the last step."""
        pending = self._pending.pop(episode_id, None)
        if pending is not None:
            observations = np.concatenate([pending.observations[:-1], observations])
            actions = np.concatenate([pending.actions, actions])
            rewards = np.concatenate([pending.rewards, rewards])
        steps = len(rewards)
        n = self.n_step
        starts = np.arange(steps)
        window = np.minimum(n, steps - starts)
        ready = starts if done else starts[window == n]
        window = window[ready]
        if not done and len(ready) < steps:
            keep = len(ready)
            self._pending[episode_id] = _PendingSteps(observations[keep:], actions[keep:], rewards[keep:])
        padded = np.concatenate([rewards, np.zeros(n - 1, dtype=np.float32)])
        returns = np.zeros(len(ready), dtype=np.float32)
        for k in range(n):
            returns += np.where(k < window, self.gamma**k * padded[ready + k], 0.0).astype(np.float32)
        ends = ready + window
        return Transitions(
            observations=observations[ready],
            actions=actions[ready],
            rewards=returns,
            next_observations=observations[ends],
            terminateds=np.logical_and(terminated, ends == steps),
            n_steps=window.astype(np.int64),
        )


class TransitionReplayBuffer:
    """Ring buffer of transitions with uniform or prioritised sampling, in SAC's and DQN's train-batch layout
    (``discrete_actions``: integer actions, one per transition)."""

    def __init__(
        self,
        capacity: int,
        observation_dim: int,
        action_dim: int,
        *,
        discrete_actions: bool = False,
        n_step: int = 1,
        gamma: float = 0.99,
        prioritized: bool = False,
        alpha: float = 0.6,
        seed: int | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"replay buffer capacity={capacity!r} must be a positive integer")
        if alpha < 0:
            raise ValueError(f"alpha={alpha!r} must be >= 0")
        self.capacity = capacity
        self.assembler = NStepAssembler(n_step, gamma)
        # np.zeros maps pages lazily: a 1e6-transition buffer costs memory only as it fills.
        self._observations = np.zeros((capacity, observation_dim), dtype=np.float32)
        self._next_observations = np.zeros((capacity, observation_dim), dtype=np.float32)
        # A discrete action is one integer per transition, as RLlib's DQN loss indexes its Q values with it.
        self._actions = (
            np.zeros(capacity, dtype=np.int64) if discrete_actions else np.zeros((capacity, action_dim), dtype=np.float32)
        )
        self._rewards = np.zeros(capacity, dtype=np.float32)
        self._terminateds = np.zeros(capacity, dtype=bool)
        self._n_steps = np.ones(capacity, dtype=np.int64)
        self._next = 0
        self._size = 0
        self._added = 0
        self._rng = np.random.default_rng(seed)
        self.prioritized = prioritized
        self.alpha = alpha
        self._trees = PriorityTrees(capacity) if prioritized else None
        self._max_priority = 1.0
        self._last_indices: np.ndarray | None = None

    def __len__(self) -> int:
        return self._size

    @property
    def transitions_added(self) -> int:
        return self._added

    def add_episodes(self, episodes: Iterable[SingleAgentEpisode]) -> int:
        """Add every complete n-step transition of the given chunks; returns how many were stored."""
        stored = 0
        for episode in episodes:
            transitions = self.assembler.add_episode(episode)
            if transitions is not None and len(transitions):
                self.add(transitions)
                stored += len(transitions)
        return stored

    def add(self, transitions: Transitions) -> None:
        count = len(transitions)
        if count > self.capacity:  # only the newest fit
            transitions = Transitions(*(getattr(transitions, name)[-self.capacity :] for name in Transitions.__dataclass_fields__))
            count = self.capacity
        slots = (self._next + np.arange(count)) % self.capacity
        self._observations[slots] = transitions.observations
        self._next_observations[slots] = transitions.next_observations
        self._actions[slots] = transitions.actions.reshape((count, *self._actions.shape[1:]))
        self._rewards[slots] = transitions.rewards
        self._terminateds[slots] = transitions.terminateds
        self._n_steps[slots] = transitions.n_steps
        if self._trees is not None:
            self._trees.set(slots, np.full(count, self._max_priority**self.alpha))
        self._next = int((self._next + count) % self.capacity)
        self._size = min(self._size + count, self.capacity)
        self._added += count

    def sample(self, batch_size: int, beta: float = 0.0) -> dict[str, np.ndarray]:
        """A train batch: numpy arrays keyed as RLlib's SAC learner expects."""
        if self._size == 0:
            raise ValueError("cannot sample from an empty replay buffer: sample from the environment first")
        if self._trees is None:
            indices, weights = self._rng.integers(0, self._size, size=batch_size), None
        else:
            indices, weights = self._sample_prioritized(batch_size, beta)
        self._last_indices = indices
        return self.gather(indices, weights)

    def gather(self, indices: np.ndarray, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The transitions at ``indices`` (slots in insertion order until the ring wraps) as a train batch."""
        return {
            Columns.OBS: self._observations[indices],
            Columns.NEXT_OBS: self._next_observations[indices],
            Columns.ACTIONS: self._actions[indices],
            Columns.REWARDS: self._rewards[indices],
            Columns.TERMINATEDS: self._terminateds[indices],
            "weights": np.ones(len(indices), dtype=np.float32) if weights is None else weights,
            "n_step": self._n_steps[indices],
        }

    def _sample_prioritized(self, batch_size: int, beta: float) -> tuple[np.ndarray, np.ndarray]:
        total = self._trees.total
        # Stratified: one draw per equal slice of the total mass, as RLlib and Schaul et al. do.
        targets = (np.arange(batch_size) + self._rng.random(batch_size)) * (total / batch_size)
        indices = np.minimum(self._trees.find_prefix_sums(np.minimum(targets, total * (1 - 1e-12))), self._size - 1)
        probabilities = self._trees.get(indices) / total
        max_weight = (self._trees.minimum / total * self._size) ** (-beta)
        weights = (probabilities * self._size) ** (-beta) / max_weight
        return indices, weights.astype(np.float32)

    def update_priorities(self, td_errors: np.ndarray) -> None:
        """Priorities for the transitions of the last :meth:`sample`, from the learner's TD errors."""
        if self._trees is None:
            return
        if self._last_indices is None or len(td_errors) != len(self._last_indices):
            raise ValueError(
                f"got {len(td_errors)} TD errors but the last sampled batch had "
                f"{0 if self._last_indices is None else len(self._last_indices)} transitions"
            )
        priorities = np.maximum(np.abs(np.asarray(td_errors, dtype=np.float64)), _MIN_PRIORITY)
        self._trees.set(self._last_indices, priorities**self.alpha)
        self._max_priority = max(self._max_priority, float(priorities.max()))
        self._last_indices = None
