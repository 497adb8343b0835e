"""FAST on RLlib: an off-policy algorithm whose EnvRunners are driven, when a source looks similar enough, by
a frozen source.

:class:`FASTTraining` is FAST's part, a mixin for an algorithm on the transition replay path
(:mod:`fast_rllib.training.transition_replay`): it captures, decides, drives with the chosen behaviour,
accounts returns per behaviour and hands back; the algorithm contributes its own sampling, storing and
updating. :class:`FAST` is it on SAC, :class:`fast_rllib.fast.dqn.FASTDQN` on DQN.

One iteration of :meth:`FASTTraining.training_step` is the paper's loop, read top to bottom:

1. **capture**: every ``similarity_interval`` (K) sampled env steps, one EnvRunner starts recording 4
   consecutive frames of the target task (:mod:`.frame_probe`);
2. **sample** one round with the current behaviour policy (the target or a frozen source);
3. **store** every transition in the replay buffer, whoever drove: only the target is trained;
4. **account** env steps and episode returns to the behaviour that drove them;
5. **decide**, once a full stack is in: the similarity service scores every source
   (:mod:`.similarity_client`), with ``candidate_score="transferability"`` added to each source's stored
   transfer record (:mod:`.candidate_scores`), and :mod:`.selection` picks the behaviour until the next
   decision;
6. **pull** (with ``distillation``): the source measured to drive the target best becomes the learner's
   teacher, with a weight that follows the measured returns (:mod:`.distillation`, :mod:`.learner`),
   released one ``distillation_release_step`` per round the target drives (the target drives while a
   release waits);
7. **update** the target with the updates those env steps earned (after a one-off imitation phase when the
   first teacher appears, with ``distillation_pretrain_updates``);
8. make sure every EnvRunner holds the **behaviour's weights**: a source's cached object-store reference
   is queued before every sampling request, the target's fresh weights follow its updates.

Why pushes are forced (see the RLlib notes): RLlib's ``sync_weights`` skips states whose
``weights_seq_no`` is not newer than the EnvRunner's, so after a source drove, a target sync could silently
leave the source driving. FAST sends module states without a sequence number (always applied), and
re-sends a source's with every request, so an ``evaluate()`` (which copies the learner's weights into the
EnvRunners) or a restarted EnvRunner cannot leave the target driving while FAST counts the source.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any, Collection, Iterator

import numpy as np
import ray
import torch
from ray.exceptions import RayError
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

from fast_rllib.fast import frame_probe
from fast_rllib.fast.candidate_scores import transfer_records, transferability_scores
from fast_rllib.fast.config import FASTSettings
from fast_rllib.fast.distillation import NO_PULL, DroveUnder, Pull
from fast_rllib.fast.pull_steps import PullSteps
from fast_rllib.fast.return_bandit import build_selector
from fast_rllib.fast.sac_config import FASTConfig
from fast_rllib.fast.selection import TARGET, Decision, SelectionState
from fast_rllib.fast.similarity_client import SimilarityClient
from fast_rllib.fast.telemetry import FastTelemetry
from fast_rllib.repository import SourceRepository
from fast_rllib.training.transition_replay import count_env_steps
from fast_rllib.training.transition_sac import TransitionSAC

logger = logging.getLogger(__name__)

SELECTION_STATE = "fast_selection"
# Sampling rounds without a complete 4-frame stack before capture is started afresh (a round is at least
# 4 steps of the capturing env, so only a restarted EnvRunner gets here).
CAPTURE_RETRY_ROUNDS = 4


class FASTTraining(PullSteps):
    """FAST's training step, a mixin placed before a :class:`~fast_rllib.training.transition_replay.TransitionReplay`
    algorithm (see the module docstring)."""

    config: FASTSettings

    def setup(self, config: FASTSettings) -> None:
        super().setup(config)
        self.selector = build_selector(self.config.selection_settings())
        with _random_state_kept():
            # Loading a source builds an RLModule (random initialisation) in this process, where the local
            # learner lives: without this, a FAST run that never hands over would still train on another
            # random stream than SAC at the same seed.
            repository = self._load_repository()
            self._source_states = {entry.name: ray.put(entry.inference_state()) for entry in repository}
        self.source_names = repository.names
        # The sources' transfer records, read once, when the candidates are scored by transferability.
        self._records = (
            transfer_records(repository)
            if self.config.candidate_score == "transferability" and self.config.selection_rule == "bandit"
            else None
        )
        self.similarity = self._similarity_client()
        self.telemetry = FastTelemetry(trial=self.trial_name or self.__class__.__name__)
        self._steps_at_decision: int | None = None
        self._capturing, self._capture_rounds = False, 0
        self._target_stacks: deque[np.ndarray] = deque(maxlen=self.config.similarity_target_stacks)
        # episode id -> [return so far, {behaviour: steps}]: episodes may span behaviour changes.
        self._open_episodes: dict[str, list] = {}
        self._warm_started_from: str | None = None
        self._pull: Pull = NO_PULL
        self._drove_under = DroveUnder()
        self._pretrained = False
        # The target drives the current round because the pull needs it measured.
        self._measuring_target = False

    def _client_id(self) -> str:
        """How the shared similarity service counts this run's queries: the Tune trial's name, else one of
        its own (outside Tune every Algorithm's ``trial_name`` is "default"; Trainable keeps the Tune trial,
        if any, in ``_trial_info``)."""
        if self._trial_info is not None:
            return self.trial_name
        return f"{self.__class__.__name__}-{os.getpid()}-{id(self):x}"

    def _load_repository(self) -> SourceRepository:
        """The repository, every source's policy checked against the target's network (each source's weights
        then go to the object store once, and each push sends only a reference)."""
        module_spec = self.config.get_rl_module_spec(spaces=self.env_runner_group.get_spaces())
        return SourceRepository.load(
            self.config.resolved_repository_path,
            observation_space=module_spec.observation_space,
            action_space=module_spec.action_space,
            reference_state=self._target_inference_state(),
            trust_pickles=self.config.trust_pickles,
        )

    def _similarity_client(self) -> SimilarityClient:
        client = SimilarityClient(
            self.config.similarity_service_name,
            self.config.similarity_service_settings(),
            client_id=self._client_id(),
            timeout_s=self.config.similarity_timeout_s,
            **self.config.similarity_service_placement(),
        )
        if self.config.modality == "FT":
            # validate() can only see an empty description; the token limit is the text model's.
            client.check_description(self.config.resolved_target_description)
        return client

    # The training step -------------------------------------------------------------------------------

    @property
    def behaviour(self) -> str:
        return self.selector.state.behaviour

    @property
    def distillation_pull(self) -> Pull:
        """The teacher and weight the learner imitates with now (``NO_PULL`` without distillation): what a
        benchmark records beside each evaluation, to tell why the target's return moved."""
        return self._pull

    def training_step(self) -> None:
        self._start_capture_if_due()
        episodes, behaviour = self.sample_round(
            label=self.behaviour, weights=self._source_weights(), explore=self._exploration_of_behaviour()
        )
        self.store(episodes)
        self._account(episodes, behaviour)
        self._decide_if_captured()
        self._end_trial_if_measured()
        self._follow_measured_pull()
        pretrained = self._pretrain_if_due()
        updated = self.update(count_env_steps(episodes), self._training_intensity_for(behaviour))
        if (pretrained or updated) and self.behaviour == TARGET:
            self.push_target_weights()
        self._log_state()
        return None

    def _start_capture_if_due(self) -> None:
        lifetime_steps = self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
        since = None if self._steps_at_decision is None else lifetime_steps - self._steps_at_decision
        if not self._capturing and (since is None or since >= self.config.similarity_interval):
            self._start_capture()
            self._steps_at_decision = lifetime_steps

    def _start_capture(self) -> None:
        self._on_capture_runner(frame_probe.start_capture)
        self._capturing, self._capture_rounds = True, 0

    def _source_weights(self) -> ray.ObjectRef | None:
        """The driving source's cached weights, sent with every sampling request; None while the target drives."""
        return None if self.behaviour == TARGET else self._source_states[self.behaviour]

    def _exploration_of_behaviour(self) -> bool | None:
        """``explore`` for the round requested now: the config's, except for a source that acts greedily and
        for the target driving to be measured with ``distillation_measure_greedily``."""
        if self.behaviour == TARGET:
            return False if self._measuring_target and self.config.distillation_measure_greedily else None
        return False if self.config.sources_act_greedily else None

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

    def _decide_if_captured(self) -> None:
        if not self._capturing:
            return
        stack = self._on_capture_runner(frame_probe.take_stack)
        self._capture_rounds += 1
        if stack is not None:
            self._capturing = False
            self._decide(stack)
        elif self._capture_rounds >= CAPTURE_RETRY_ROUNDS:
            # The capturing runner was restarted (its fresh env captures nothing): start again.
            self._start_capture()

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
        if self.behaviour == TARGET:
            self._target_drove_a_round()
        likeness = self._similarity_scores()
        scores = likeness
        if likeness is not None and self._records is not None:
            scores = transferability_scores(likeness, self._records)
        target_needed = self._target_round_needed()
        self._follow(self.selector.decide(scores, likeness=likeness, target_needed=target_needed), target_needed, likeness)

    def _end_trial_if_measured(self) -> None:
        """Hand over within the round once the behaviour on trial is measured (``end_trials_when_measured``);
        the pull's needs are only worked out then, not on every step."""
        if self.selector.trial_measured():
            target_needed = self._target_round_needed()
            self._follow(self.selector.end_of_trial(target_needed), target_needed, None)

    def _follow(self, decision: Decision, target_needed: str | None, likeness: dict[str, float] | None) -> None:
        """Act on a decision: log it (with the likeness it was made on, None: unchanged), warm-start on the
        first source, put the target back in charge."""
        self._measuring_target = target_needed is not None and decision.behaviour == TARGET
        logger.info("FAST decision %d: %s (%s)", self.selector.state.decisions, decision.behaviour, decision.reason)
        self.telemetry.decision(likeness, decision.behaviour != TARGET, decision.switched)
        if self.config.warm_start and self._warm_started_from is None and decision.behaviour != TARGET:
            self._warm_start_from(decision.behaviour)
        if decision.switched and decision.behaviour == TARGET:
            # A source's weights go out with the next sampling request; the target's must replace them now.
            self._push_behaviour_weights()

    def _similarity_scores(self) -> dict[str, float] | None:
        """The service's scores of the latest target stacks (None when it failed or timed out)."""
        scores, latency_ms = self.similarity.scores(np.stack(self._target_stacks), self.config.resolved_target_description)
        self.telemetry.query(latency_ms)
        if latency_ms is None:
            self.metrics.log_value(("fast", "service_failures"), 1, reduce="sum")
        else:
            self.metrics.log_value(("fast", "service_latency_ms"), latency_ms, window=20)
            self.metrics.log_value(("fast", "time_in_queries_s"), latency_ms / 1000, reduce="sum")
        return scores

    def _training_intensity_for(self, behaviour: str) -> float | None:
        """The update ratio the round's env steps earn: ``source_training_intensity`` for a source's."""
        return self.config.source_training_intensity if behaviour != TARGET else None

    def _warm_start_from(self, source: str) -> None:
        """Copy the first chosen source's policy into the target's (repositories store policies only, so
        the Q networks start fresh)."""
        state = ray.get(self._source_states[source])
        self.learner_group.foreach_learner(lambda learner: learner.module[DEFAULT_MODULE_ID].set_state(state))
        self._warm_started_from = source
        logger.info("FAST warm start: the target policy starts from %r", source)

    def _log_state(self) -> None:
        state = self.selector.state
        following = self.behaviour != TARGET
        self.metrics.log_value(("fast", "following_source"), float(following), window=1)
        self.metrics.log_value(
            ("fast", "active_source_index"), self.source_names.index(self.behaviour) if following else -1, window=1
        )
        for name, value in (("decisions", state.decisions), ("switches", state.switches), ("retired", len(state.retired))):
            self.metrics.log_value(("fast", name), value, window=1)
        for behaviour in (TARGET, *self.source_names):
            self.metrics.log_value(("fast", "drives", behaviour), float(behaviour == self.behaviour), window=1)
        for source, score in state.scores.items():
            self.metrics.log_value(("fast", "score", source), score, window=1)
        for behaviour, steps in state.env_steps.items():
            self.metrics.log_value(("fast", "env_steps", behaviour), steps, window=1)
        if self.config.distillation:
            pull = self._pull
            self.metrics.log_value(("fast", "distillation", "weight"), pull.weight, window=1)
            for source in self.source_names:
                self.metrics.log_value(("fast", "distillation", "teacher", source), float(source == pull.teacher), window=1)
            for source, weight in pull.source_weights.items():
                self.metrics.log_value(("fast", "distillation", "source_weight", source), weight, window=1)

    def _push_behaviour_weights(self) -> None:
        start = time.perf_counter()
        state_ref = ray.put(self._target_inference_state()) if self.behaviour == TARGET else self._source_weights()
        self.push_weights(state_ref)
        self.metrics.log_value(("fast", "time_in_pushes_s"), time.perf_counter() - start, reduce="sum")

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
                "warm_started_from": self._warm_started_from,
                "pretrained": self._pretrained,
                "drove_under": [self._drove_under.teacher, self._drove_under.weight],
                "measuring_target": self._measuring_target,
            }
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        if SELECTION_STATE in state:
            saved = state[SELECTION_STATE]
            self.selector = build_selector(self.config.selection_settings(), SelectionState.from_dict(saved["selection"]))
            self._steps_at_decision = saved["steps_at_decision"]
            self._target_stacks.clear()
            self._target_stacks.extend(saved["target_stacks"])
            self._warm_started_from = saved.get("warm_started_from")
            self._pretrained = saved.get("pretrained", False)
            self._drove_under = DroveUnder(*saved.get("drove_under", (None, 1.0)))
            self._measuring_target = saved.get("measuring_target", False)
            self._pull = self._measured_pull()
            self._push_behaviour_weights()

    def restore_from_path(self, path: str | Path, *args: Any, **kwargs: Any) -> None:
        # RLlib ends a restore with a learner-to-EnvRunner sync, which would put the target back in
        # charge; Ray runs an actor's calls in submission order, so pushing afterwards wins.
        super().restore_from_path(path, *args, **kwargs)
        self._push_behaviour_weights()


class FAST(FASTTraining, TransitionSAC):
    """FAST on SAC."""

    config: FASTConfig

    @classmethod
    def get_default_config(cls) -> FASTConfig:
        return FASTConfig()


@contextlib.contextmanager
def _random_state_kept() -> Iterator[None]:
    """Run a block without consuming this process's torch, numpy or Python random streams."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        yield
    random.setstate(python_state)
    np.random.set_state(numpy_state)
