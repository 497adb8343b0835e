"""FAST on RLlib: SAC whose EnvRunners are driven, when a source looks similar enough, by a frozen source.

``FAST(TransitionSAC)`` keeps SAC's sampling, replay and learner untouched (only the target is trained,
from everything collected) and adds one thing to its training step: every ``similarity_interval`` (K)
sampled env steps it captures 4 consecutive frames of the target task on an EnvRunner, asks the
similarity service for a score per source (that stack and the latest ``similarity_target_stacks - 1``
before it, scored as one set), lets :mod:`fast_rllib.selection` pick the behaviour policy
(a source whose score reaches ``similarity_threshold`` (Θ), else the target) and pushes that policy's
inference-only weights to every EnvRunner, forced and blocking. The behaviour stays until the next
decision, across episode boundaries, as in the paper.

Why pushes are FAST's own (see the RLlib notes): RLlib's ``sync_weights`` is fire-and-forget and skips
states whose ``weights_seq_no`` is not newer than the EnvRunner's, so a target sync right after a source
push could silently leave the source driving. FAST sends module states without a sequence number (always
applied) through ``foreach_env_runner``, which waits for every runner, and includes the local EnvRunner,
whose state RLlib copies into any EnvRunner it restarts.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any, Collection

import numpy as np
import ray
from ray.exceptions import RayError
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.core import COMPONENT_RL_MODULE
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

from fast_rllib import frame_probe
from fast_rllib.embedding.similarity import DEFAULT_METRIC, METRIC_RANGES, METRICS
from fast_rllib.embedding.task_embedding import DEFAULT_TEXT_WEIGHT, MODALITIES
from fast_rllib.embedding.text import DEFAULT_POOLING
from fast_rllib.repository import DEFAULT_REPOSITORY, RepositoryError, SourceRepository
from fast_rllib.selection import TARGET, SelectionSettings, SelectionState, Selector
from fast_rllib.service import check_resources
from fast_rllib.similarity_client import SimilarityClient
from fast_rllib.tasks import TASKS, make_task_env
from fast_rllib.tasks.frames import DEFAULT_FRAME_SIZE, check_frame_size
from fast_rllib.tasks.rllib_env import FRAME_SIZE_KEY
from fast_rllib.telemetry import FastTelemetry
from fast_rllib.training.transition_sac import TransitionSAC, TransitionSACConfig

logger = logging.getLogger(__name__)

SELECTION_STATE = "fast_selection"
# Sampling rounds without a complete 4-frame stack before capture is started afresh (a round is at least
# 4 steps of the capturing env, so only a restarted EnvRunner gets here).
CAPTURE_RETRY_ROUNDS = 4
# The similarity training keys and their defaults, in the order `training()` documents them.
_FAST_DEFAULTS: dict[str, Any] = {
    "repository_path": None,
    "target_description": None,
    "similarity_interval": 1000,
    # The paper compares the latest 4 frames alone. The task does not change between decisions, so the
    # stacks of earlier decisions still describe it: the latest few, scored together as one set, show
    # more of the track than one glimpse of it (README, "Embeddings and similarity").
    "similarity_target_stacks": 8,
    # From the score matrices of the shipped repository (README, "Embeddings and similarity"): with frames
    # + text and the default metric, the best racing source reaches 0.4 for every window of 8 target
    # stacks and 96 % of single stacks, the best non-racing source for 4 % and 27 % of them.
    "similarity_threshold": 0.4,
    "modality": "FT",
    "similarity_metric": DEFAULT_METRIC,
    "text_weight": DEFAULT_TEXT_WEIGHT,
    "text_model_dir": None,
    "text_pooling": DEFAULT_POOLING,
    "autoencoder_dir": None,
    "frame_size": DEFAULT_FRAME_SIZE,
    "similarity_service_name": "fast_similarity_service",
    "similarity_service_num_gpus": None,
    "similarity_service_num_cpus": 0.0,
    "similarity_service_resources": None,
    "similarity_timeout_s": 10.0,
    "hysteresis": 0.0,
    "negative_transfer_guard": False,
    "hand_back": False,
    "hand_back_ratio": 1.0,
    "min_episodes_to_compare": 4,
    "probe_every": 4,
    "source_choice": "best",
}


class FASTConfig(TransitionSACConfig):
    """SAC settings plus FAST's, all through :meth:`training` in RLlib's keyword style:

    - ``repository_path``: source repository (default: the one shipped in the package);
    - ``target_description``: the target's text for FT (default: the catalogue task's description);
    - ``similarity_interval`` (K): sampled env steps between decisions; ``similarity_threshold`` (Θ);
      ``similarity_target_stacks``: the target's latest captured 4-frame stacks (one per decision) that
      are scored together (1: the latest only, as in the paper);
    - ``modality`` ("F" frames, "FT" frames + text), ``similarity_metric``, ``text_weight``,
      ``text_model_dir`` / ``text_pooling`` (any local BERT, [CLS] or mean), ``autoencoder_dir``,
      ``frame_size``;
    - ``similarity_service_name`` / ``_num_gpus`` (None: a fraction when the cluster has GPUs) /
      ``_num_cpus`` / ``_resources`` (Ray custom resources that pin the service to some nodes, e.g.
      ``{"head": 1}``; None: anywhere) / ``similarity_timeout_s``;
    - beyond the paper (all off by default): ``hysteresis``, ``negative_transfer_guard``, ``hand_back`` with
      ``hand_back_ratio``, and ``min_episodes_to_compare`` / ``probe_every`` for both (see
      :mod:`fast_rllib.selection`); ``source_choice="random"`` is the random-source ablation.
    """

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or FAST)
        for key, value in _FAST_DEFAULTS.items():
            setattr(self, key, value)

    def training(self, **kwargs: Any) -> "FASTConfig":
        fast_values = {key: kwargs.pop(key) for key in list(kwargs) if key in _FAST_DEFAULTS}
        super().training(**kwargs)
        for key, value in fast_values.items():
            if value is not NotProvided:
                setattr(self, key, value)
        return self

    # Derived values ----------------------------------------------------------------------------------

    @property
    def resolved_repository_path(self) -> str:
        return str(self.repository_path if self.repository_path is not None else DEFAULT_REPOSITORY)

    @property
    def resolved_target_description(self) -> str:
        if self.target_description is not None:
            return self.target_description
        return TASKS[self.env].description

    def similarity_service_settings(self) -> dict[str, Any]:
        return {
            "repository_path": self.resolved_repository_path,
            "autoencoder_dir": self.autoencoder_dir,
            "text_model_dir": self.text_model_dir,
            "pooling": self.text_pooling,
            "modality": self.modality,
            "metric": self.similarity_metric,
            "text_weight": self.text_weight,
        }

    def selection_settings(self) -> SelectionSettings:
        return SelectionSettings(
            threshold=self.similarity_threshold,
            hysteresis=self.hysteresis,
            negative_transfer_guard=self.negative_transfer_guard,
            hand_back=self.hand_back,
            hand_back_ratio=self.hand_back_ratio,
            min_episodes_to_compare=self.min_episodes_to_compare,
            probe_every=self.probe_every,
            source_choice=self.source_choice,
            seed=self.seed or 0,
        )

    # Validation --------------------------------------------------------------------------------------

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.env, str) or self.env not in TASKS:
            self._value_error(
                f"env={self.env!r} is not a fast-rllib catalogue task; FAST captures target frames through the "
                f"catalogue's env creators. Known ids: {', '.join(sorted(TASKS))}"
            )
        interval = self.similarity_interval
        if isinstance(interval, bool) or not isinstance(interval, int) or interval <= 0:
            self._value_error(f"similarity_interval={interval!r} must be a positive integer (env steps)")
        stacks = self.similarity_target_stacks
        if isinstance(stacks, bool) or not isinstance(stacks, int) or stacks <= 0:
            self._value_error(
                f"similarity_target_stacks={stacks!r} must be a positive integer (latest target stacks scored together)"
            )
        if self.modality not in MODALITIES:
            self._value_error(f"modality={self.modality!r} is not supported; allowed values: {', '.join(MODALITIES)}")
        if self.similarity_metric not in METRICS:
            self._value_error(
                f"similarity_metric={self.similarity_metric!r} is not supported; allowed values: {', '.join(METRICS)}"
            )
        if self.similarity_timeout_s <= 0:
            self._value_error(f"similarity_timeout_s={self.similarity_timeout_s!r} must be > 0")
        try:
            check_resources(self.similarity_service_resources)
        except (TypeError, ValueError) as error:
            self._value_error(f"similarity_service_resources={self.similarity_service_resources!r} is invalid: {error}")
        low, high = METRIC_RANGES.get(self.similarity_metric, (-np.inf, np.inf))
        if not low <= self.similarity_threshold <= high:
            self._value_error(
                f"similarity_threshold={self.similarity_threshold!r} is outside the range of similarity_metric "
                f"{self.similarity_metric!r}: [{low}, {high}]"
            )
        try:
            check_frame_size(self.frame_size)
            self.selection_settings()
        except ValueError as error:
            self._value_error(str(error))
        description = self.resolved_target_description
        if not isinstance(description, str) or not description.strip():
            self._value_error(f"target_description={description!r} is empty: describe what the agent sees and must do")
        self._validate_repository()
        # The catalogue's env creator wraps each env in FrameCapture when env_config names a frame size
        # (capture stays off, and costs nothing, until FAST asks for frames).
        self.env_config = {**self.env_config, FRAME_SIZE_KEY: self.frame_size}

    def _validate_repository(self) -> None:
        path = Path(self.resolved_repository_path)
        env = make_task_env(self.env, **{k: v for k, v in self.env_config.items() if k != FRAME_SIZE_KEY})
        try:
            repository = SourceRepository.load(
                path, observation_space=env.observation_space, action_space=env.action_space, check_modules=False
            )
        except RepositoryError as error:
            self._value_error(f"repository_path={str(path)!r} cannot serve target {self.env!r}: {error}")
            return
        finally:
            env.close()
        if repository.frame_size != self.frame_size:
            self._value_error(
                f"frame_size={self.frame_size} but the repository at {str(path)!r} stores {repository.frame_size} px "
                "frames: set frame_size to match"
            )


class FAST(TransitionSAC):
    """FAST's training step on top of :class:`TransitionSAC` (see the module docstring)."""

    config: FASTConfig

    @classmethod
    def get_default_config(cls) -> FASTConfig:
        return FASTConfig()

    def setup(self, config: FASTConfig) -> None:
        super().setup(config)
        self.selector = Selector(self.config.selection_settings())
        self.similarity = SimilarityClient(
            self.config.similarity_service_name,
            self.config.similarity_service_settings(),
            num_gpus=self.config.similarity_service_num_gpus,
            num_cpus=self.config.similarity_service_num_cpus,
            timeout_s=self.config.similarity_timeout_s,
            resources=self.config.similarity_service_resources,
        )
        if self.config.modality == "FT":
            # validate() can only see an empty description; the token limit is the text model's.
            self.similarity.check_description(self.config.resolved_target_description)
        self.source_names, self._source_states = self._load_sources()
        self.telemetry = FastTelemetry(trial=self.trial_name or self.__class__.__name__)
        self._steps_at_decision: int | None = None
        self._capturing, self._capture_rounds = False, 0
        self._target_stacks: deque[np.ndarray] = deque(maxlen=self.config.similarity_target_stacks)
        # episode id -> [return so far, {behaviour: steps}]: episodes may span behaviour changes.
        self._open_episodes: dict[str, list] = {}

    def _load_sources(self) -> tuple[tuple[str, ...], dict[str, ray.ObjectRef]]:
        """Every source's policy weights, checked against the target's network and put in the object store
        once (each push then sends only a reference)."""
        reference = self._target_inference_state()
        module_spec = self.config.get_rl_module_spec(spaces=self.env_runner_group.get_spaces())
        repository = SourceRepository.load(
            self.config.resolved_repository_path,
            observation_space=module_spec.observation_space,
            action_space=module_spec.action_space,
            reference_state=reference,
        )
        return repository.names, {entry.name: ray.put(entry.inference_state()) for entry in repository}

    # The training step -------------------------------------------------------------------------------

    @property
    def behaviour(self) -> str:
        return self.selector.state.behaviour

    def training_step(self) -> None:
        lifetime_steps = self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
        due = self._steps_at_decision is None or lifetime_steps - self._steps_at_decision >= self.config.similarity_interval
        if due and not self._capturing:
            self._start_capture()
            self._steps_at_decision = lifetime_steps
        return super().training_step()

    def _start_capture(self) -> None:
        self._on_capture_runner(frame_probe.start_capture)
        self._capturing, self._capture_rounds = True, 0

    def _on_capture_runner(self, function):
        """Run ``function`` on the EnvRunner whose first env provides the target frames (None if it failed).

        That is the first healthy remote EnvRunner, or the local one when there are no remote EnvRunners
        at all. While every remote EnvRunner is down (being restarted) there is none: the local EnvRunner
        of a group with remote ones has no env, so capture waits for the restart instead.
        """
        group = self.env_runner_group
        if group.num_remote_env_runners() > 0:
            remote_ids = group.healthy_env_runner_ids()[:1]
            if not remote_ids:
                logger.warning("no healthy EnvRunner to capture target frames on; retrying next round")
                return None
        else:
            remote_ids = []
        try:
            results = group.foreach_env_runner(
                function, remote_worker_ids=remote_ids or None, local_env_runner=not remote_ids
            )
        except RayError as error:
            logger.warning("frame capture on an EnvRunner failed (%s); retrying next round", error)
            return None
        return results[0] if results else None

    def _behaviour_label(self) -> str:
        return self.behaviour

    def _on_sampled(self, episodes: list[SingleAgentEpisode], behaviour: str) -> None:
        self._account(episodes, behaviour)
        if self._capturing:
            stack = self._on_capture_runner(frame_probe.take_stack)
            self._capture_rounds += 1
            if stack is not None:
                self._capturing = False
                self._decide(stack)
            elif self._capture_rounds >= CAPTURE_RETRY_ROUNDS:
                # The capturing runner was restarted (its fresh env captures nothing): start again.
                self._start_capture()
        self._log_state()

    def _account(self, episodes: list[SingleAgentEpisode], behaviour: str) -> None:
        """Steps and (finished) episode returns per behaviour; an episode belongs to the behaviour that
        drove most of its steps."""
        steps = sum(len(episode) for episode in episodes)
        self.selector.record_steps(behaviour, steps)
        for episode in episodes:
            total, per_behaviour = self._open_episodes.setdefault(episode.id_, [0.0, defaultdict(int)])
            self._open_episodes[episode.id_][0] = total + float(np.sum(episode.get_rewards()))
            per_behaviour[behaviour] += len(episode)
            if episode.is_done:
                episode_return, counts = self._open_episodes.pop(episode.id_)
                owner = max(counts, key=counts.get)
                self.selector.record_episode(owner, episode_return)
                self.metrics.log_value(("fast", "episode_return", owner), episode_return, window=20)

    def _decide(self, stack: np.ndarray) -> None:
        self._target_stacks.append(stack)
        scores, latency_ms = self.similarity.scores(np.stack(self._target_stacks), self.config.resolved_target_description)
        self.telemetry.query(latency_ms)
        if latency_ms is None:
            self.metrics.log_value(("fast", "service_failures"), 1, reduce="sum")
        else:
            self.metrics.log_value(("fast", "service_latency_ms"), latency_ms, window=20)
            self.metrics.log_value(("fast", "time_in_queries_s"), latency_ms / 1000, reduce="sum")
        decision = self.selector.decide(scores)
        logger.info("FAST decision %d: %s (%s)", self.selector.state.decisions, decision.behaviour, decision.reason)
        self.telemetry.decision(scores, decision.behaviour != TARGET, decision.switched)
        if decision.switched:
            self._push_behaviour_weights()

    def _log_state(self) -> None:
        state = self.selector.state
        following = self.behaviour != TARGET
        self.metrics.log_value(("fast", "following_source"), float(following), window=1)
        self.metrics.log_value(
            ("fast", "active_source_index"), self.source_names.index(self.behaviour) if following else -1, window=1
        )
        for name, value in (("decisions", state.decisions), ("switches", state.switches), ("retired", len(state.retired))):
            self.metrics.log_value(("fast", name), value, window=1)
        for source, score in state.scores.items():
            self.metrics.log_value(("fast", "score", source), score, window=1)
        for behaviour, steps in state.env_steps.items():
            self.metrics.log_value(("fast", "env_steps", behaviour), steps, window=1)

    def _sync_behaviour_weights(self, trained: bool) -> None:
        # A source's weights never change: they were pushed, forced, when it took over. While the target
        # drives, its fresh weights follow each update the way TransitionSAC sends them.
        if self.behaviour == TARGET:
            super()._sync_behaviour_weights(trained)

    def _push_behaviour_weights(self) -> None:
        start = time.perf_counter()
        self._push_weights()
        self.metrics.log_value(("fast", "time_in_pushes_s"), time.perf_counter() - start, reduce="sum")

    def _push_weights(self) -> None:
        if self.behaviour == TARGET:
            state_ref = ray.put(self._target_inference_state())
        else:
            state_ref = self._source_states[self.behaviour]
        self.env_runner_group.foreach_env_runner(
            lambda env_runner: env_runner.set_state({COMPONENT_RL_MODULE: state_ref}), local_env_runner=True
        )

    # Checkpoints -------------------------------------------------------------------------------------

    def get_state(
        self, components: str | Collection[str] | None = None, *, not_components: str | Collection[str] | None = None, **kwargs
    ) -> dict[str, Any]:
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._check_component(SELECTION_STATE, components, not_components):
            state[SELECTION_STATE] = {
                "selection": self.selector.state.to_dict(),
                "steps_at_decision": self._steps_at_decision,
                "target_stacks": list(self._target_stacks),
            }
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        if SELECTION_STATE in state:
            saved = state[SELECTION_STATE]
            self.selector = Selector(self.config.selection_settings(), SelectionState.from_dict(saved["selection"]))
            self._steps_at_decision = saved["steps_at_decision"]
            self._target_stacks.clear()
            self._target_stacks.extend(saved["target_stacks"])
            self._push_behaviour_weights()

    def restore_from_path(self, path: str | Path, *args: Any, **kwargs: Any) -> None:
        # RLlib ends a restore with a learner-to-EnvRunner sync, which would put the target back in
        # charge; Ray runs an actor's calls in submission order, so pushing afterwards wins.
        super().restore_from_path(path, *args, **kwargs)
        self._push_behaviour_weights()
