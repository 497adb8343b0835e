"""A transition-level replay path for RLlib's off-policy algorithms: same module, learner and loss, far less
plumbing.

RLlib's SAC and DQN share DQN's ``training_step``: it stores episode chunks, samples one-step episodes per
batch and lets the learner connector pipeline rebuild a train batch from them. :class:`TransitionReplay`
replaces only what happens between the EnvRunners and the learner: sampled chunks are unpacked once into a
:class:`~fast_rllib.training.replay.TransitionReplayBuffer` and the sampled batch goes to
``learner_group.update(batch=...)``, which skips the connector pipeline. RLlib's modules, learners, losses,
target updates, metrics and checkpoint format are all unchanged, so a checkpoint of either path loads in
the other. :class:`~fast_rllib.training.transition_sac.TransitionSAC` and
:class:`~fast_rllib.training.transition_dqn.TransitionDQN` are this mixin on RLlib's SAC and DQN.

The replay ratio is exact: with ``training_intensity`` set, every sampled env step earns
``training_intensity / train_batch_size`` updates (RLlib rounds this to whole samples-per-update
weights), so ``training_intensity=64`` with batches of 256 is one update per 4 env steps whatever the
number of EnvRunners or the fragment length. Without it, one update follows each sampling round, as in
stock RLlib.

The training step is four plain building blocks, public so that FAST's own step reads top to bottom
from them: :meth:`~TransitionReplay.sample_round` (one round from the EnvRunners, with the label and weights
of the policy that drives it), :meth:`~TransitionReplay.store` (into the replay buffer),
:meth:`~TransitionReplay.update` (the updates those env steps earned) and
:meth:`~TransitionReplay.push_target_weights`.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import ray
import torch
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_RL_MODULE, DEFAULT_MODULE_ID
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import (
    ALL_MODULES,
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    REPLAY_BUFFER_ADD_DATA_TIMER,
    REPLAY_BUFFER_RESULTS,
    REPLAY_BUFFER_SAMPLE_TIMER,
    REPLAY_BUFFER_UPDATE_PRIOS_TIMER,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TD_ERROR_KEY,
    TIMERS,
)
from ray.rllib.utils.numpy import convert_to_numpy

from fast_rllib.training.replay import TransitionReplayBuffer

_SAMPLE_TAG = "transition_replay_sample"
_WEIGHTS_TAG = "transition_replay_weights"
_NOTHING_IN_FLIGHT = object()
# How long a weights push may wait for the previous one to be collected (it is normally done already).
_PUSH_COLLECT_TIMEOUT_S = 5.0


class TransitionReplayConfig:
    """Mixin for an off-policy ``AlgorithmConfig`` (SAC's, DQN's): four keys, all set through :meth:`training`:

    - ``transition_replay`` (default True): use the transition replay path; False runs the stock
      ``training_step`` (same module and learner), for comparisons.
    - ``learner_torch_threads`` (default None: leave torch's setting alone): intra-op threads of the
      local learner.
    - ``sample_ahead`` (default True): remote EnvRunners sample the next round while the learner trains
      on the last one, instead of idling. Each round is then sampled with weights one round older
      (32 env steps with the shared settings), harmless for an off-policy learner; on a 2-core machine it
      is the difference between alternating and overlapping the two halves of the loop.
    - ``learning_start_updates`` (default 0): extra updates run once, as soon as learning starts, before
      the regular ones (a burst on the data collected so far). It exists so that learning from scratch can
      be given the same one-off burst as FAST's imitation phase in comparisons.
    """

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class)
        self.transition_replay: bool = True
        self.learner_torch_threads: int | None = None
        self.sample_ahead: bool = True
        self.learning_start_updates: int = 0

    def training(
        self,
        *,
        transition_replay: bool = NotProvided,
        learner_torch_threads: int | None = NotProvided,
        sample_ahead: bool = NotProvided,
        learning_start_updates: int = NotProvided,
        **kwargs: Any,
    ):
        super().training(**kwargs)
        if transition_replay is not NotProvided:
            self.transition_replay = transition_replay
        if learner_torch_threads is not NotProvided:
            self.learner_torch_threads = learner_torch_threads
        if sample_ahead is not NotProvided:
            self.sample_ahead = sample_ahead
        if learning_start_updates is not NotProvided:
            self.learning_start_updates = learning_start_updates
        return self

    def validate(self) -> None:
        super().validate()
        threads = self.learner_torch_threads
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            self._value_error(f"learner_torch_threads={threads!r} must be None or an integer >= 1")
        burst = self.learning_start_updates
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
            self._value_error(f"learning_start_updates={burst!r} must be an integer >= 0")
        if not self.transition_replay:
            return
        if self.is_multi_agent:
            self._value_error("transition_replay=True supports single-agent training only; set transition_replay=False")
        if isinstance(self.n_step, bool) or not isinstance(self.n_step, int) or self.n_step < 1:
            self._value_error(
                f"n_step={self.n_step!r} is not supported with transition_replay=True; allowed values: an integer >= 1"
            )
        if self.training_intensity is not None and self.training_intensity <= 0:
            self._value_error(f"training_intensity={self.training_intensity!r} must be None or > 0")


class TransitionReplay:
    """Mixin for an RLlib algorithm that runs DQN's ``training_step`` (SAC, DQN): the transition replay
    path (see the module docstring)."""

    transition_buffer: TransitionReplayBuffer | None

    def _create_local_replay_buffer_if_necessary(self, config):
        # The stock episode buffer is only needed (and only allocated) on the stock path.
        return None if config.transition_replay else super()._create_local_replay_buffer_if_necessary(config)

    def setup(self, config) -> None:
        super().setup(config)
        if self.config.learner_torch_threads is not None:
            torch.set_num_threads(self.config.learner_torch_threads)
        self.transition_buffer = self._build_transition_buffer() if self.config.transition_replay else None
        self._update_credit = 0.0
        self._learning_start_burst_done = False
        # The behaviour label of the sampling round in flight (sample-ahead), or _NOTHING_IN_FLIGHT.
        self._in_flight: Any = _NOTHING_IN_FLIGHT

    def _build_transition_buffer(self) -> TransitionReplayBuffer:
        module_spec = self.config.get_rl_module_spec(spaces=self.env_runner_group.get_spaces())
        observation_space: gym.Space = module_spec.observation_space
        action_space: gym.Space = module_spec.action_space
        if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(f"transition_replay=True needs a flat Box observation space, got {observation_space}")
        discrete = isinstance(action_space, gym.spaces.Discrete)
        if not discrete and (not isinstance(action_space, gym.spaces.Box) or len(action_space.shape) != 1):
            raise ValueError(f"transition_replay=True needs a flat Box or a Discrete action space, got {action_space}")
        buffer_config = self.config.replay_buffer_config
        return TransitionReplayBuffer(
            capacity=int(buffer_config.get("capacity", 1_000_000)),
            observation_dim=observation_space.shape[0],
            action_dim=1 if discrete else action_space.shape[0],
            discrete_actions=discrete,
            n_step=self.config.n_step,
            gamma=self.config.gamma,
            prioritized="Prioritized" in str(buffer_config.get("type", "")),
            alpha=float(buffer_config.get("alpha", 1.0)),
            seed=self.config.seed,
        )

    # The training step --------------------------------------------------------------------------------

    def training_step(self) -> None:
        if not self.config.transition_replay:
            return super().training_step()
        episodes, _ = self.sample_round()
        self.store(episodes)
        if self.update(count_env_steps(episodes)):
            self.push_target_weights()
        return None

    # Building blocks ----------------------------------------------------------------------------------

    def sample_round(
        self, label: Any = None, weights: ray.ObjectRef | None = None, explore: bool | None = None
    ) -> tuple[list[SingleAgentEpisode], Any]:
        """One round of episodes from the EnvRunners and the label of the policy that drove it.

        ``label`` names the policy that will drive the next round requested here and ``weights`` (an
        object-store reference to an inference-only module state, or None to keep what the EnvRunners
        hold) are queued on every EnvRunner before that request. Ray runs an actor's calls in order, so
        the round is sampled with those weights whatever happened since the last round (an
        ``evaluate()`` that synced the learner's weights, a restarted EnvRunner). ``explore`` is passed to
        ``EnvRunner.sample`` (None: the config's). With sample-ahead the round returned is the one
        requested by the previous call, with that call's label.
        """
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            if self._samples_ahead():
                episodes, env_runner_results, label = self._collect_and_request(label, weights, explore)
            else:
                if weights is not None:
                    self.push_weights(weights)
                episodes, env_runner_results = self._sample_now(explore)
        self.metrics.aggregate(env_runner_results, key=ENV_RUNNER_RESULTS)
        return episodes, label

    def _sample_now(self, explore: bool | None) -> tuple[list[SingleAgentEpisode], list]:
        if explore is None:
            return synchronous_parallel_sample(
                worker_set=self.env_runner_group,
                concat=True,
                sample_timeout_s=self.config.sample_timeout_s,
                _uses_new_env_runners=True,
                _return_metrics=True,
            )
        local = self.env_runner_group.num_remote_env_runners() == 0
        rounds = self.env_runner_group.foreach_env_runner(
            functools.partial(_sample_round, explore=explore), local_env_runner=local, timeout_seconds=self.config.sample_timeout_s
        )
        return [episode for runner_episodes, _ in rounds for episode in runner_episodes], [metrics for _, metrics in rounds]

    def store(self, episodes: list[SingleAgentEpisode]) -> None:
        """Unpack a round's episodes into the transition replay buffer."""
        with self.metrics.log_time((TIMERS, REPLAY_BUFFER_ADD_DATA_TIMER)):
            self.transition_buffer.add_episodes(episodes)
        self.metrics.log_value((REPLAY_BUFFER_RESULTS, "num_transitions"), len(self.transition_buffer), window=1)

    def update(self, env_steps: int, training_intensity: float | None = None) -> bool:
        """Run the updates that ``env_steps`` newly sampled env steps earned; True if any ran.

        ``training_intensity`` replaces the config's for these env steps (None: the config's).
        """
        updates = self._updates_due(env_steps, training_intensity or self.config.training_intensity)
        if updates and not self._learning_start_burst_done:
            updates += self.config.learning_start_updates
            self._learning_start_burst_done = True
        for _ in range(updates):
            self.update_once()
        return updates > 0

    def learning_started(self) -> bool:
        """Enough env steps sampled and enough transitions stored for updates to run."""
        lifetime_steps = self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
        return (
            lifetime_steps >= self.config.num_steps_sampled_before_learning_starts
            and len(self.transition_buffer) >= self.config.total_train_batch_size
        )

    def push_target_weights(self) -> None:
        """Give the EnvRunners the target's fresh weights to sample with."""
        with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
            if self._samples_ahead():
                # Queued behind the round in flight, without waiting for it (a blocking push would undo the
                # overlap). States without a sequence number are always applied.
                self._push_weights_async(ray.put(self._target_inference_state()))
            else:
                self.env_runner_group.sync_weights(
                    from_worker_or_learner_group=self.learner_group, policies=[DEFAULT_MODULE_ID], inference_only=True
                )

    def push_weights(self, state_ref: ray.ObjectRef) -> None:
        """Set an inference-only module state on every EnvRunner (the local one too) and wait for all."""
        self.env_runner_group.foreach_env_runner(
            lambda env_runner: env_runner.set_state({COMPONENT_RL_MODULE: state_ref}), local_env_runner=True
        )

    # Sampling ahead -----------------------------------------------------------------------------------

    def _samples_ahead(self) -> bool:
        return self.config.sample_ahead and self.env_runner_group.num_remote_env_runners() > 0

    def _collect_and_request(
        self, label: Any, weights: ray.ObjectRef | None, explore: bool | None
    ) -> tuple[list[SingleAgentEpisode], list, Any]:
        """Wait for the round in flight, then at once start the next one, which runs while we train."""
        if self._in_flight is _NOTHING_IN_FLIGHT:
            self._request_round(label, weights, explore)
            if self._in_flight is _NOTHING_IN_FLIGHT:  # no healthy EnvRunner (one is being restarted)
                return [], [], label
        sampled_label = self._in_flight
        fetched = self.env_runner_group.fetch_ready_async_reqs(
            tags=_SAMPLE_TAG, timeout_seconds=self.config.sample_timeout_s
        )
        self._in_flight = _NOTHING_IN_FLIGHT
        self._request_round(label, weights, explore)
        episodes = [episode for _, (runner_episodes, _) in fetched for episode in runner_episodes]
        return episodes, [metrics for _, (_, metrics) in fetched], sampled_label

    def _request_round(self, label: Any, weights: ray.ObjectRef | None, explore: bool | None) -> None:
        if weights is not None:
            self._push_weights_async(weights)
        if self.env_runner_group.foreach_env_runner_async(functools.partial(_sample_round, explore=explore), tag=_SAMPLE_TAG):
            self._in_flight = label

    def _push_weights_async(self, state_ref: ray.ObjectRef) -> None:
        """Queue a module state on every remote EnvRunner without waiting."""
        self.queue_on_env_runners(lambda env_runner: env_runner.set_state({COMPONENT_RL_MODULE: state_ref}), _WEIGHTS_TAG)

    def queue_on_env_runners(self, function: Callable[[Any], Any], tag: str) -> None:
        """Queue ``function(env_runner)`` on every remote EnvRunner without waiting; Ray runs it before any
        sampling request made later.

        RLlib keeps one request in flight per EnvRunner and tag and silently skips a second: the previous
        call under ``tag`` (a few milliseconds of work queued behind a sampling round that has returned by
        now) is collected first, and a call that is still skipped is counted, so that it shows in the
        results as ``transition_replay/queued_calls_dropped``.
        """
        self.env_runner_group.fetch_ready_async_reqs(tags=tag, timeout_seconds=_PUSH_COLLECT_TIMEOUT_S)
        sent = self.env_runner_group.foreach_env_runner_async(function, tag=tag)
        dropped = len(self.env_runner_group.healthy_env_runner_ids()) - sent
        self.metrics.log_value(("transition_replay", "queued_calls_dropped"), max(dropped, 0), reduce="sum")

    # Updates ------------------------------------------------------------------------------------------

    def _updates_due(self, env_steps: int, training_intensity: float | None) -> int:
        if not self.learning_started():
            return 0
        if not training_intensity:
            return 1
        self._update_credit += env_steps * training_intensity / self.config.total_train_batch_size
        updates = math.floor(self._update_credit)
        self._update_credit -= updates
        return updates

    def update_once(self) -> None:
        """One learner update on a batch sampled from the replay buffer."""
        with self.metrics.log_time((TIMERS, REPLAY_BUFFER_SAMPLE_TIMER)):
            arrays = self.transition_buffer.sample(
                self.config.total_train_batch_size, beta=float(self.config.replay_buffer_config.get("beta", 0.0))
            )
            batch = MultiAgentBatch(
                {DEFAULT_MODULE_ID: SampleBatch({key: torch.from_numpy(value) for key, value in arrays.items()})},
                env_steps=len(arrays["weights"]),
            )
        with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
            learner_results = self.learner_group.update(
                batch=batch,
                timesteps={
                    NUM_ENV_STEPS_SAMPLED_LIFETIME: self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME)),
                    NUM_AGENT_STEPS_SAMPLED_LIFETIME: self.metrics.peek(
                        (ENV_RUNNER_RESULTS, NUM_AGENT_STEPS_SAMPLED_LIFETIME), default={}
                    ),
                },
            )
            # TD errors are per-sample arrays: keep them out of the logged results (as stock DQN does).
            td_errors = _pop_td_errors(learner_results)
            self.metrics.aggregate(learner_results, key=LEARNER_RESULTS)
        if self.transition_buffer.prioritized and len(td_errors):
            with self.metrics.log_time((TIMERS, REPLAY_BUFFER_UPDATE_PRIOS_TIMER)):
                self.transition_buffer.update_priorities(td_errors)

    def _target_inference_state(self) -> dict[str, Any]:
        """The target policy's EnvRunner weights (numpy), without a ``weights_seq_no``."""
        path = f"{COMPONENT_LEARNER}/{COMPONENT_RL_MODULE}/{DEFAULT_MODULE_ID}"
        state = self.learner_group.get_state(components=path, inference_only=True)
        module_state = state[COMPONENT_LEARNER][COMPONENT_RL_MODULE][DEFAULT_MODULE_ID]
        return {key: value for key, value in module_state.items() if key != "weights_seq_no"}


def count_env_steps(episodes: list[SingleAgentEpisode]) -> int:
    return sum(len(episode) for episode in episodes)


def _sample_round(env_runner, explore: bool | None = None) -> tuple[list[SingleAgentEpisode], Any]:
    return env_runner.sample(explore=explore), env_runner.get_metrics()


def _pop_td_errors(learner_results: list[dict[str, Any]]) -> np.ndarray:
    """Remove the per-sample TD errors from the learner results and return them as one flat array.

    They are logged as an ``item_series`` metric, which peeks as a list of per-update arrays.
    """
    td_errors = []
    for results in learner_results:
        for module_id, module_results in results.items():
            if module_id != ALL_MODULES and TD_ERROR_KEY in module_results:
                value = convert_to_numpy(module_results.pop(TD_ERROR_KEY).peek())
                td_errors += [np.reshape(item, -1) for item in (value if isinstance(value, list) else [value])]
    return np.concatenate(td_errors) if td_errors else np.zeros(0, dtype=np.float32)
