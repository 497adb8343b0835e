"""Before training: can this repository help this task? Every source's similarity score, F and FT, its
transferability when the repository holds transfer records, what FAST would do with them, and
(optionally) how well each source actually drives the task.

The target's frames depend on whose driving they show: a lane follower shows the track as a competent
driver sees it, a random policy shows what an untrained learner sees (early in training FAST captures
frames like these, and scores drop), and a stored policy shows that policy's view.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence, get_args

import numpy as np

from fast_rllib.build.evaluation import mean_return, module_policy, run_episodes
from fast_rllib.repository.layout import action_mode_for
from fast_rllib.build.frame_collection import collect_frame_stacks
from fast_rllib.fast.candidate_scores import transfer_records, transferability_scores
from fast_rllib.fast.return_bandit import candidate_order, relative_scores
from fast_rllib.repository import SourceRepository
from fast_rllib.service import SimilarityService
from fast_rllib.tasks import get_task
from fast_rllib.tasks.controller import LaneFollowingController
from fast_rllib.tasks.rendering import save_figure

FramesFrom = Literal["lane-follower", "random", "policy"]
FRAMES_FROM: tuple[str, ...] = get_args(FramesFrom)
MODALITIES = ("F", "FT")
# FAST's candidate_score="transferability": each source's transfer record plus weighted FT likeness.
TRANSFERABILITY = "transferability"
# Target stacks are taken this many env steps apart, so that they show different parts of the task.
STACK_STRIDE = 10
ZERO_SHOT_SEED = 3000
LANE_FOLLOWER = "lane follower"


@dataclass(frozen=True)
class SourceScore:
    name: str
    kind: str
    scores: dict[str, float]
    zero_shot_return: float | None = None


@dataclass(frozen=True)
class ScoreReport:
    task_id: str
    frames_from: str
    threshold: float
    metric: str
    sources: list[SourceScore]
    lane_follower_return: float | None = None
    candidate_ratio: float = 0.5

    @property
    def rankings(self) -> tuple[str, ...]:
        """The scores every source has: F and FT, and transferability when every source has a record."""
        return tuple(name for name in (*MODALITIES, TRANSFERABILITY) if all(name in s.scores for s in self.sources))

    def best(self, modality: str) -> SourceScore:
        return max(self.sources, key=lambda source: source.scores[modality])

    def decision(self, modality: str) -> str:
        """What FAST's paper rule does with these scores, and why."""
        best = self.best(modality)
        score = best.scores[modality]
        if score >= self.threshold:
            return f"{modality}: {best.name!r} would drive: its score {score:.3f} >= threshold {self.threshold}"
        return f"{modality}: the target drives: the best source {best.name!r} scores {score:.3f} < threshold {self.threshold}"

    def scores_of(self, modality: str) -> dict[str, float]:
        return {source.name: source.scores[modality] for source in self.sources}

    def relative(self, modality: str) -> dict[str, float]:
        """The default rule's view of the scores: each source's position in the range."""
        return relative_scores(self.scores_of(modality))

    def default_rule(self, modality: str) -> str:
        """What FAST's default rule does with these scores: which candidates it tries, in which order."""
        order = candidate_order(self.scores_of(modality), self.candidate_ratio)
        return (
            f"{modality}, default rule: candidates (relative score >= {self.candidate_ratio}) tried in this order, "
            f"then returns decide: {', '.join(order)}"
        )

    def spearman(self, modality: str, kind: str | None = None) -> float | None:
        """Rank correlation between score and zero-shot return over the sources (of one kind if given)."""
        chosen = [s for s in self.sources if s.zero_shot_return is not None and (kind is None or s.kind == kind)]
        if len(chosen) < 3:
            return None
        return spearman_rho([s.scores[modality] for s in chosen], [s.zero_shot_return for s in chosen])


def spearman_rho(first: Sequence[float], second: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties); nan when either side is constant."""
    ranks = [_average_ranks(np.asarray(values, dtype=float)) for values in (first, second)]
    if any(np.std(rank) == 0 for rank in ranks):
        return float("nan")
    return float(np.corrcoef(ranks[0], ranks[1])[0, 1])


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=float)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def frames_policy(task_id: str, frames_from: FramesFrom, policy_path: str | Path | None) -> Callable | None:
    """The policy whose driving the target frames show (None: random actions)."""
    if frames_from not in FRAMES_FROM:
        raise ValueError(f"frames_from={frames_from!r} is not supported; allowed values: {', '.join(FRAMES_FROM)}")
    if frames_from == "random":
        return None
    if frames_from == "lane-follower":
        return LaneFollowingController()
    if policy_path is None:
        raise ValueError("frames_from='policy' needs the path of an RLModule or Algorithm checkpoint")
    from ray.rllib.core.rl_module.rl_module import RLModule

    from fast_rllib.build.recording import resolve_module_checkpoint

    return module_policy(RLModule.from_checkpoint(resolve_module_checkpoint(policy_path)))


def similarity_services(repository_path: str | Path, metric: str, text_weight: float) -> dict[str, SimilarityService]:
    """One in-process service per modality (each embeds every source once)."""
    return {
        modality: SimilarityService(
            repository_path=str(repository_path), modality=modality, metric=metric, text_weight=text_weight
        )
        for modality in MODALITIES
    }


def target_stacks(
    task_id: str, frames_from: FramesFrom, frame_size: int, *, policy_path: str | Path | None = None,
    stacks: int = 8, seed: int = 0,
) -> np.ndarray:
    policy = frames_policy(task_id, frames_from, policy_path)
    return collect_frame_stacks(task_id, stacks, frame_size, policy, stride=STACK_STRIDE, seed=seed)


def zero_shot_returns(task_id: str, repository: SourceRepository, episodes: int) -> dict[str, float]:
    """Each source's mean deterministic return driving ``task_id`` (fixed seeds) in its own action mode (a
    DQN source on the discrete-steering variant), and the lane follower's, in the sources' mode, under the
    key ``"lane follower"`` (highway-env targets only)."""
    returns, modes = {}, set()
    for entry in repository:
        module = entry.load_module()
        mode = action_mode_for(module.action_space)
        modes.add(mode)
        returns[entry.name] = mean_return(
            run_episodes(task_id, module_policy(module), episodes=episodes, seed=ZERO_SHOT_SEED, frame_size=None, action_mode=mode)
        )
    if get_task(task_id).kind != "custom":
        mode = modes.pop() if len(modes) == 1 else "steering"
        returns[LANE_FOLLOWER] = mean_return(
            run_episodes(
                task_id, LaneFollowingController(mode), episodes=episodes, seed=ZERO_SHOT_SEED, frame_size=None, action_mode=mode
            )
        )
    return returns


def score_task(
    task_id: str,
    repository_path: str | Path,
    *,
    trust_pickles: bool = False,
    frames_from: FramesFrom = "lane-follower",
    policy_path: str | Path | None = None,
    stacks: int = 8,
    threshold: float,
    candidate_ratio: float,
    metric: str,
    text_weight: float,
    zero_shot_episodes: int = 0,
    seed: int = 0,
) -> ScoreReport:
    """Score every source of the repository against ``task_id`` with F and FT (see the module docstring).
    Modules are loaded only for zero-shot returns; pickled ones only with ``trust_pickles``."""
    description = get_task(task_id).description
    repository = SourceRepository.load(
        repository_path, check_modules=zero_shot_episodes > 0, trust_pickles=trust_pickles
    )
    frames = target_stacks(task_id, frames_from, repository.frame_size, policy_path=policy_path, stacks=stacks, seed=seed)
    services = similarity_services(repository_path, metric, text_weight)
    scores = {modality: service.scores(frames, description) for modality, service in services.items()}
    records = transfer_records(repository)
    if records is not None:
        scores[TRANSFERABILITY] = transferability_scores(scores["FT"], records)
    returns = zero_shot_returns(task_id, repository, zero_shot_episodes) if zero_shot_episodes else {}
    sources = [
        SourceScore(entry.name, _source_kind(entry.task_id), {name: values[entry.name] for name, values in scores.items()}, returns.get(entry.name))
        for entry in repository
    ]
    return ScoreReport(task_id, frames_from, threshold, metric, sources, returns.get(LANE_FOLLOWER), candidate_ratio)


def _source_kind(task_id: str) -> str:
    try:
        return get_task(task_id).kind
    except ValueError:
        return "unknown"


def format_report(report: ScoreReport) -> str:
    zero_shot = any(source.zero_shot_return is not None for source in report.sources)
    rankings = report.rankings
    transfer = TRANSFERABILITY in rankings
    header = (
        f"{'source':<22} {'kind':<8} {'F':>7} {'FT':>7} {'FT rel':>7}"
        + (f" {'transfer':>8}" if transfer else "") + (f" {'zero-shot':>10}" if zero_shot else "")
    )
    relative = report.relative("FT")
    lines = [
        f"target {report.task_id}: frames from {report.frames_from}, metric {report.metric}, threshold {report.threshold}",
        header,
    ]
    for source in sorted(report.sources, key=lambda s: -s.scores["FT"]):
        line = (
            f"{source.name:<22} {source.kind:<8} {source.scores['F']:>7.3f} {source.scores['FT']:>7.3f} "
            f"{relative[source.name]:>7.2f}"
        )
        if transfer:
            line += f" {source.scores[TRANSFERABILITY]:>8.3f}"
        if zero_shot:
            line += f" {source.zero_shot_return:>10.1f}"
        lines.append(line)
    if report.lane_follower_return is not None:
        lines.append(f"lane follower zero-shot return: {report.lane_follower_return:.1f}")
    lines += [report.decision(modality) for modality in MODALITIES]
    lines += [report.default_rule(ranking) for ranking in rankings]
    if not transfer:
        lines.append("transferability: not shown, some sources have no transfer record (fast-rllib repo measure-transfer)")
    if zero_shot:
        for modality in rankings:
            rho_all, rho_racing = report.spearman(modality), report.spearman(modality, "racing")
            lines.append(
                f"Spearman rho (score {modality} vs zero-shot return): all sources {_fmt(rho_all)}, "
                f"racing sources {_fmt(rho_racing)}"
            )
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:+.2f}"


def plot_report(report: ScoreReport, path: str | Path) -> None:
    """Bars of every source's F and FT score with the threshold, and the zero-shot returns if measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(report.sources, key=lambda s: -s.scores["FT"])
    names = [s.name for s in ordered]
    zero_shot = all(s.zero_shot_return is not None for s in ordered)
    figure, axes = plt.subplots(1, 2 if zero_shot else 1, figsize=(12 if zero_shot else 7, 4), squeeze=False)
    positions = np.arange(len(names))
    for offset, modality in ((-0.2, "F"), (0.2, "FT")):
        axes[0, 0].bar(positions + offset, [s.scores[modality] for s in ordered], width=0.4, label=modality)
    axes[0, 0].axhline(report.threshold, color="black", linestyle=":", label=f"threshold {report.threshold}")
    axes[0, 0].set_xticks(positions, names, rotation=45, ha="right", fontsize=8)
    axes[0, 0].set_ylabel(f"score ({report.metric})")
    axes[0, 0].set_title(f"{report.task_id}, frames from {report.frames_from}")
    axes[0, 0].legend(fontsize=8)
    if zero_shot:
        axes[0, 1].bar(positions, [s.zero_shot_return for s in ordered], color="gray")
        if report.lane_follower_return is not None:
            axes[0, 1].axhline(report.lane_follower_return, color="black", linestyle=":", label="lane follower")
            axes[0, 1].legend(fontsize=8)
        axes[0, 1].set_xticks(positions, names, rotation=45, ha="right", fontsize=8)
        axes[0, 1].set_ylabel("zero-shot return on the target")
    save_figure(figure, path)
