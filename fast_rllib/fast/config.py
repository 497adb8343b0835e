"""FAST's settings: the similarity, selection and distillation keys (:class:`FASTSettings`), on SAC's
(:class:`fast_rllib.fast.sac_config.FASTConfig`) or DQN's (:class:`fast_rllib.fast.dqn.FASTDQNConfig`) own.

Every FAST key is an explicit keyword of :meth:`FASTSettings.training` with an RLlib ``NotProvided`` default,
so editors show and document each one and a misspelled keyword is a Python ``TypeError``. Defaults live in
``__init__``; a comment beside a default names the benchmark and results file that chose it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
from ray.rllib.algorithms.algorithm_config import NotProvided

from fast_rllib.embedding.similarity import DEFAULT_METRIC, METRIC_RANGES, METRICS, Metric
from fast_rllib.embedding.task_embedding import DEFAULT_TEXT_WEIGHT, MODALITIES, Modality
from fast_rllib.embedding.text import DEFAULT_POOLING
from fast_rllib.fast.candidate_scores import CANDIDATE_SCORES, CandidateScore
from fast_rllib.fast.distillation import distillation_settings_problem
from fast_rllib.fast.driver_checks import DriverChecks
from fast_rllib.fast.selection import SelectionRule, SelectionSettings, SourceChoice
from fast_rllib.repository import DEFAULT_REPOSITORY
from fast_rllib.service import DEFAULT_SERVICE_NAME, check_resources
from fast_rllib.tasks import get_task
from fast_rllib.tasks.frames import DEFAULT_FRAME_SIZE, check_frame_size
from fast_rllib.tasks.rllib_env import FRAME_SIZE_KEY
from fast_rllib.training.keywords import provided_keys, reject_unknown_keywords

# Θ of the paper's rule when similarity_threshold is left at None. Chosen on the catalogue's non-held-out
# targets (benchmarks/similarity_matrix.py, benchmarks/results/similarity_zoo/summary.json): where the best
# racing source's FT window scores sit above the best non-racing source's.
PAPER_THRESHOLD = 0.4


class FASTSettings(DriverChecks):
    """FAST's keys, a mixin for an off-policy algorithm's config (see :meth:`training` for every key):
    :class:`fast_rllib.fast.sac_config.FASTConfig` on SAC, :class:`fast_rllib.fast.dqn.FASTDQNConfig` on DQN."""

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class)
        self.repository_path: str | Path | None = None
        self.trust_pickles: bool = False
        self.target_description: str | None = None
        self.similarity_interval: int = 1000
        # The task does not change between decisions, so earlier stacks still describe it; a window of 8
        # shows more of the track than one glimpse (benchmarks/similarity_matrix.py, window queries).
        self.similarity_target_stacks: int = 8
        # None: PAPER_THRESHOLD under the paper's rule, no floor under the default rule (see training()).
        self.similarity_threshold: float | None = None
        self.modality: Modality = "FT"
        self.similarity_metric: Metric = DEFAULT_METRIC
        self.text_weight: float = DEFAULT_TEXT_WEIGHT
        self.text_model_dir: str | None = None
        self.text_pooling: str = DEFAULT_POOLING
        self.autoencoder_dir: str | None = None
        self.frame_size: int = DEFAULT_FRAME_SIZE
        self.similarity_service_name: str = DEFAULT_SERVICE_NAME
        self.similarity_service_num_gpus: float | None = None
        self.similarity_service_num_cpus: float = 0.0
        self.similarity_service_resources: dict[str, float] | None = None
        self.similarity_timeout_s: float = 10.0
        self.selection_rule: SelectionRule = "bandit"
        # Chosen on the catalogue's non-held-out racing targets (benchmarks/candidate_ratio.py,
        # benchmarks/results/candidate_ratio.json): the ratio that keeps racing sources as candidates and
        # leaves most non-racing ones out, for FT windows.
        self.candidate_ratio: float = 0.5
        # Chosen on the transfer table's fit split (benchmarks/transferability.py,
        # benchmarks/results/transferability/summary.md): the score whose order best matches the sources'
        # zero-shot returns there.
        self.candidate_score: CandidateScore = "transferability"
        # Chosen on synthetic arms (tests/test_return_bandit.py): 0.5 settles on the best of three sources
        # while still measuring the improving target often enough to hand back to it.
        self.exploration: float = 0.5
        self.warm_start: bool = False
        self.hysteresis: float = 0.0
        self.negative_transfer_guard: bool = False
        self.hand_back: bool = False
        self.hand_back_ratio: float = 1.0
        self.min_episodes_to_compare: int = 4
        self.probe_every: int = 4
        # Off, as FAST on SAC's benchmarks ran; on for FAST on DQN, where it was measured (fast_rllib/fast/dqn.py).
        self.end_trials_when_measured: bool = False
        self.source_choice: SourceChoice = "best"
        # Chosen on catalogue tracks no zoo source drove, each lever measured on its own
        # (benchmarks/distillation_levers.py; why each: docs/distillation.md).
        self.distillation: bool = True
        self.distillation_coefficient: float = 1.0
        self.distillation_pretrain_updates: int = 1000
        self.source_training_intensity: float | None = None
        self.distillation_q_filter: bool = True
        self.distillation_q_filter_soft: bool = True
        self.distillation_target_episodes: int | None = 4
        # Chosen on the same catalogue tracks by the same rule as the levers above (the "release" round).
        self.distillation_release_step: float | None = 0.25
        # Measured on the same tracks by the same rule, and left off (docs/distillation.md, items 8 to 10).
        self.distillation_measure_after_imitation: bool = False
        self.distillation_measure_greedily: bool = False
        self.distillation_spread: bool = False
        self.sources_act_greedily: bool = False

    def training(
        self,
        *,
        repository_path: str | Path | None = NotProvided,
        trust_pickles: bool = NotProvided,
        target_description: str | None = NotProvided,
        similarity_interval: int = NotProvided,
        similarity_target_stacks: int = NotProvided,
        similarity_threshold: float | None = NotProvided,
        modality: Modality = NotProvided,
        similarity_metric: Metric = NotProvided,
        text_weight: float = NotProvided,
        text_model_dir: str | None = NotProvided,
        text_pooling: str = NotProvided,
        autoencoder_dir: str | None = NotProvided,
        frame_size: int = NotProvided,
        similarity_service_name: str = NotProvided,
        similarity_service_num_gpus: float | None = NotProvided,
        similarity_service_num_cpus: float = NotProvided,
        similarity_service_resources: Mapping[str, float] | None = NotProvided,
        similarity_timeout_s: float = NotProvided,
        selection_rule: SelectionRule = NotProvided,
        candidate_ratio: float = NotProvided,
        candidate_score: CandidateScore = NotProvided,
        exploration: float = NotProvided,
        warm_start: bool = NotProvided,
        hysteresis: float = NotProvided,
        negative_transfer_guard: bool = NotProvided,
        hand_back: bool = NotProvided,
        hand_back_ratio: float = NotProvided,
        min_episodes_to_compare: int = NotProvided,
        probe_every: int = NotProvided,
        end_trials_when_measured: bool = NotProvided,
        source_choice: SourceChoice = NotProvided,
        distillation: bool = NotProvided,
        distillation_coefficient: float = NotProvided,
        distillation_pretrain_updates: int = NotProvided,
        source_training_intensity: float | None = NotProvided,
        distillation_q_filter: bool = NotProvided,
        distillation_q_filter_soft: bool = NotProvided,
        distillation_spread: bool = NotProvided,
        distillation_target_episodes: int | None = NotProvided,
        distillation_release_step: float | None = NotProvided,
        distillation_measure_after_imitation: bool = NotProvided,
        distillation_measure_greedily: bool = NotProvided,
        sources_act_greedily: bool = NotProvided,
        **kwargs: Any,
    ) -> "FASTSettings":
        """Sets the algorithm's training keys (``**kwargs``, see ``SACConfig.training`` or
        ``DQNConfig.training``) and FAST's.

        Args:
            repository_path: The source repository; None: the one shipped in the package (for DQN, the
                shipped discrete one).
            trust_pickles: Also load entries still stored as pickles (RLlib checkpoints written before the
                safetensors format). Unpickling runs whatever code the file names: only for repositories
                whose author you trust; ``fast-rllib repo convert --trust-pickles`` rewrites them as data.
            target_description: The target's text for FT; None: the catalogue task's description.
            similarity_interval: K, sampled env steps between two selection decisions.
            similarity_target_stacks: How many of the target's latest 4-frame stacks (one per decision) are
                scored together; 1 is the paper's "latest frames only".
            similarity_threshold: Θ, on the scale of ``similarity_metric`` (its range is checked). Paper
                rule: the score the best source needs to drive. Default rule: a floor on likeness, a source
                whose similarity score is below Θ is no candidate whatever its rank by ``candidate_score``
                (when none reaches it, the target drives). None
                (the default): 0.4 (``PAPER_THRESHOLD``) under the paper's rule and no floor under the
                default rule, whose candidates then follow ``candidate_ratio`` alone.
            modality: "F" (frames) or "FT" (frames and the description's text vector).
            similarity_metric: How target rows are compared with a source's rows.
            text_weight: Weight of each text feature against a frame-code feature in FT.
            text_model_dir: A local BERT-style model folder; None: the bundled all-MiniLM-L6-v2.
            text_pooling: "cls" or "mean" pooling of the text model's tokens.
            autoencoder_dir: Frame autoencoder weights; None: the repository's (or the shipped) ones.
            frame_size: Side of the square grayscale frames, equal to the repository's.
            similarity_service_name: Base name of the shared similarity actor.
            similarity_service_num_gpus: GPUs for the service; None: a fraction when the cluster has GPUs.
            similarity_service_num_cpus: CPUs reserved for the service.
            similarity_service_resources: Ray custom resources that pin the service, e.g. {"head": 1}.
            similarity_timeout_s: How long a query (and the service lookup) may take before the target
                drives instead.
            selection_rule: "bandit" (default: similarity proposes candidates, the returns each behaviour
                earns on the target decide; see fast_rllib.fast.return_bandit) or "paper" (the best source
                above Θ drives).
            candidate_ratio: Bandit: a source is a candidate when its score is in this top part of the
                decision's score range, (score - lowest) / (highest - lowest) >= candidate_ratio.
            candidate_score: Bandit: the score that proposes candidates and orders their first trials:
                "similarity" (the similarity service's score of the target's frames and text, the paper's
                likeness) or "transferability" (each source's stored transfer record, its zero-shot return
                share on reference tracks written by ``fast-rllib repo measure-transfer``, plus a fitted
                weight times the similarity score; likeness alone, with a warning naming them, while some
                source has no record; see fast_rllib.fast.candidate_scores). The paper's rule always
                compares likeness with Θ.
            exploration: Bandit: weight of the upper-confidence bonus (0: always the best mean return).
            warm_start: Start the target's policy and Q networks from the first chosen source's weights.
            hysteresis: Paper rule: score margin that keeps the active source and damps switching (0: off).
            negative_transfer_guard: Paper rule: retire a source whose episodes return less than the
                target's own.
            hand_back: Paper rule: retire a source once the target returns ``hand_back_ratio`` times as much.
            hand_back_ratio: See ``hand_back``.
            min_episodes_to_compare: Episodes a behaviour needs before its mean return is compared.
            probe_every: Every n-th decision the target drives (default rule; the paper's rule only with guard
                or hand-back), so that it gets experience of its own and its return stays measured.
            end_trials_when_measured: Bandit: a candidate on trial (or the target driving to be measured)
                hands over as soon as it has ``min_episodes_to_compare`` episodes, not at the next decision,
                so that a candidate that crashes at once costs a few env steps rather than K.
            source_choice: Paper rule: "best" (the most similar source) or "random" (ablation: any source
                above Θ).
            distillation: The target's actor also imitates the source measured to drive the target best,
                on every replayed observation (its own included), with a weight that follows the measured
                returns: ``clip((source - target) / |source|, 0, 1)``, zero once the target drives as well,
                and for a retired or harmful source (see fast_rllib.fast.learner and .distillation).
            distillation_coefficient: Strength of the imitation term against SAC's actor loss, on the
                scale of the critic's Q values (1: a unit squared action gap costs as much as mean |Q|).
            distillation_pretrain_updates: Extra updates (SAC's loss plus the imitation term) run once,
                when learning starts with a measured teacher, before the first regular update: QDagger's
                offline phase on the source's data. 0: none.
            source_training_intensity: ``training_intensity`` for the env steps a source drove (RLPD's
                higher update ratio on teacher data); None: ``training_intensity`` for every env step.
            distillation_q_filter: Imitate the teacher only on observations where the target's critic
                values the teacher's mean action above the target's own (Nair et al. 2018's Q-filter), so
                that a teacher below the target's reach on some states does not hold it back there. Off
                during the imitation phase, where the critic cannot judge yet.
            distillation_q_filter_soft: Where the Q-filter rejects the teacher's action, still imitate it
                with the measured weight rather than not at all: a young critic does not overrule returns
                that measured the teacher far ahead, and the filter acts in full once the target catches up.
            distillation_spread: Also imitate the teacher's spread (log standard deviation), not only its
                mean action, so that the target's sampled episodes drive as its mean action does. SAC only.
            distillation_target_episodes: The target's latest episodes that measure it against its teacher
                for the pull's weight (a learning policy's old episodes describe a policy that is gone);
                None: every episode the selection keeps (its last 20).
            distillation_release_step: How far the pull's weight toward a teacher may fall per round the
                target drives under it; while a release waits, the target drives. The measurement that
                lowers the weight was made under the stronger pull, so each weaker pull is measured, and
                the critic sees the released actor's actions, before the next (rises are immediate; a new
                teacher or a retired one is not held; see fast_rllib.fast.distillation.released_pull).
                None: the measured weight at once.
            distillation_measure_after_imitation: After the imitation phase the target's earlier episodes
                (the replaced untrained policy's, mostly early crashes, which hold the pull's weight near 1)
                no longer measure it, and it drives until measured again. False: they count until replaced.
            distillation_measure_greedily: The rounds the target drives because the pull needs it measured
                act on its mean action, as its evaluation does (a young sampling actor returns far less).
                False: those rounds explore like any other.
            sources_act_greedily: A driving SAC source acts on its mean action instead of sampling its
                stochastic policy, so that its episodes return what its zero-shot evaluation measures and
                the selection compares sources as they drive at their best; False: more varied data for
                the critic. FAST on DQN: always True (epsilon belongs to the target's schedule).

        Returns:
            This updated config.
        """
        fast_keys = provided_keys(locals())
        reject_unknown_keywords(type(self), kwargs)
        super().training(**kwargs)
        for key, value in fast_keys.items():
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
        return get_task(self.env).description

    @property
    def resolved_similarity_threshold(self) -> float | None:
        """Θ as the selection rule applies it (see ``similarity_threshold`` in :meth:`training`)."""
        if self.similarity_threshold is not None:
            return self.similarity_threshold
        return PAPER_THRESHOLD if self.selection_rule == "paper" else None

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

    def similarity_service_placement(self) -> dict[str, Any]:
        """Where the service may run: the options every trial and the sweep's driver start it with."""
        return {
            "num_gpus": self.similarity_service_num_gpus,
            "num_cpus": self.similarity_service_num_cpus,
            "resources": self.similarity_service_resources,
        }

    def selection_settings(self) -> SelectionSettings:
        return SelectionSettings(
            threshold=self.resolved_similarity_threshold,
            rule=self.selection_rule,
            candidate_ratio=self.candidate_ratio,
            exploration=self.exploration,
            hysteresis=self.hysteresis,
            negative_transfer_guard=self.negative_transfer_guard,
            hand_back=self.hand_back,
            hand_back_ratio=self.hand_back_ratio,
            min_episodes_to_compare=self.min_episodes_to_compare,
            probe_every=self.probe_every,
            end_trials_when_measured=self.end_trials_when_measured,
            source_choice=self.source_choice,
            seed=self.seed or 0,
        )

    # Validation --------------------------------------------------------------------------------------

    def validate(self) -> None:
        super().validate()
        self._validate_target()
        for key, meaning in (
            ("similarity_interval", "env steps"),
            ("similarity_target_stacks", "latest target stacks scored together"),
        ):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                self._value_error(f"{key}={value!r} must be a positive integer ({meaning})")
        if self.modality not in MODALITIES:
            self._value_error(f"modality={self.modality!r} is not supported; allowed values: {', '.join(MODALITIES)}")
        if self.similarity_metric not in METRICS:
            self._value_error(
                f"similarity_metric={self.similarity_metric!r} is not supported; allowed values: {', '.join(METRICS)}"
            )
        if self.candidate_score not in CANDIDATE_SCORES:
            self._value_error(
                f"candidate_score={self.candidate_score!r} is not supported; allowed values: {', '.join(CANDIDATE_SCORES)}"
            )
        problem = distillation_settings_problem(
            self.distillation_coefficient,
            self.distillation_pretrain_updates,
            self.source_training_intensity,
            self.distillation_target_episodes,
            self.distillation_release_step,
        )
        if problem:
            self._value_error(problem)
        for key in (
            "sources_act_greedily", "distillation_measure_after_imitation", "distillation_measure_greedily",
            "distillation_spread", "end_trials_when_measured",
        ):
            if not isinstance(getattr(self, key), bool):
                self._value_error(f"{key}={getattr(self, key)!r} must be True or False")
        if self.similarity_timeout_s <= 0:
            self._value_error(f"similarity_timeout_s={self.similarity_timeout_s!r} must be > 0")
        try:
            check_resources(self.similarity_service_resources)
        except (TypeError, ValueError) as error:
            self._value_error(f"similarity_service_resources={self.similarity_service_resources!r} is invalid: {error}")
        low, high = METRIC_RANGES.get(self.similarity_metric, (-np.inf, np.inf))
        threshold = self.similarity_threshold
        # A threshold that is no number is named by selection_settings() below.
        if isinstance(threshold, (int, float)) and not low <= threshold <= high:
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
