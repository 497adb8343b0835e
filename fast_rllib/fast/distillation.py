"""Which source the target imitates, and how hard: a rule on what was measured on the target, free of Ray.

The weight of the pull toward a source follows the returns the selection has measured on the target, not
a schedule (QDagger's ``max(0, 1 - student / teacher)``, Agarwal et al. 2022):

- the **teacher** is the non-retired source whose own episodes on the target return the most, among those
  measured (at least ``min_episodes_to_compare`` episodes): the one the returns say drives best, which
  is the one the selection ends up following;
- its **weight** is ``clip((source - target) / |source|, 0, 1)``: 1 while the target's own episodes
  return nothing, falling to 0 as the target catches up, and 0 for a source that returns less than the
  target (a harmful look-alike is never imitated once the target has been measured above it);
- a target not yet measured is presumed untrained (weight 1), since a fresh policy is what FAST starts from;
- the target, unlike a frozen source, changes as it learns: measured over its latest ``target_episodes``
  episodes only, its early crashes (many, and short) stop counting once it drives as well as its teacher,
  rather than holding the weight up for as many episodes as the selection keeps;
- no measured source, or every measured source retired: no teacher;
- with a **release step**, the weight toward a teacher that still returns more than the target falls by at
  most that step per round the target drives under it (:func:`released_pull`), and the target drives
  while a release waits: the measurement that lowers the weight was made under the stronger pull, and a
  target released at once from a strong pull, while sources drive, can follow its critic off the road
  before it is measured again (docs/distillation.md, "A limit measured").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from fast_rllib.fast.selection import TARGET, Selector


@dataclass(frozen=True)
class Pull:
    """The teacher (None: imitate nothing), the weight of the pull toward it, and the weight every measured
    source would get (0 for a retired one), so that a harmful source's zero shows in the results."""

    teacher: str | None
    weight: float
    reason: str
    source_weights: dict[str, float] = field(default_factory=dict)

    @property
    def held(self) -> bool:
        """The weight is above what was measured for the teacher: a release waiting for the target to drive."""
        return self.teacher is not None and self.weight > self.source_weights.get(self.teacher, self.weight)


NO_PULL = Pull(None, 0.0, "no source measured on the target yet")


@dataclass(frozen=True)
class DroveUnder:
    """The pull the target last drove a whole round under: the weight its latest measurement was made with.
    Before its first round, a full pull toward whichever teacher comes first (``teacher`` None)."""

    teacher: str | None = None
    weight: float = 1.0


def released_pull(measured: Pull, drove_under: DroveUnder, release_step: float | None) -> Pull:
    """The pull in force: the measured one, except that toward the teacher the target last drove under, the
    weight stays at least ``drove_under.weight - release_step`` until the target drives a round under it
    (FAST lets the target drive while a pull is :attr:`Pull.held`).

    Why: the target's episodes that lower the weight were driven under the stronger pull; the actor, once
    released, is a policy nobody has measured, and while sources drive (most env steps) the critic has
    not seen its actions either. Stepping the release down one driven round at a time measures each
    weaker pull, and gives the critic the actor's own actions, before the next; a target that falls under
    one raises the weight again at once (rises are never held). Nothing is held toward a teacher the target
    is measured at or above (a source that returns less than the target is never imitated), nor toward a
    new teacher, nor when there is none (a retired source is never imitated).
    """
    not_held = (
        release_step is None
        or measured.teacher is None
        or measured.weight <= 0
        or drove_under.teacher not in (None, measured.teacher)
    )
    if not_held:
        return measured
    floor = drove_under.weight - release_step
    if measured.weight >= floor:
        return measured
    reason = f"{measured.reason}; held at {floor:.2f} (measured {measured.weight:.2f}) until the target drives under it"
    return replace(measured, weight=floor, reason=reason)


def pull_weight(source_return: float, target_return: float | None) -> float:
    """``clip((source - target) / |source|, 0, 1)``; 1 for an unmeasured target, 0 for a zero return."""
    if target_return is None:
        return 1.0
    if source_return == 0:
        return 0.0
    return min(1.0, max(0.0, (source_return - target_return) / abs(source_return)))


def choose_pull(selector: Selector, target_episodes: int | None = None) -> Pull:
    """The pull the selection's measurements call for now; the target measured over its latest
    ``target_episodes`` episodes (None: every episode the selection keeps)."""
    state = selector.state
    target_return = selector.mean_return(TARGET, latest=target_episodes)
    measured = {
        name: mean
        for name in state.returns
        if name != TARGET and (mean := selector.mean_return(name)) is not None
    }
    source_weights = {
        name: 0.0 if name in state.retired else pull_weight(mean, target_return) for name, mean in measured.items()
    }
    eligible = {name: mean for name, mean in measured.items() if name not in state.retired}
    if not eligible:
        return Pull(None, 0.0, "every measured source is retired", source_weights) if measured else NO_PULL
    teacher = max(eligible, key=eligible.get)
    target_text = "not measured yet" if target_return is None else f"{target_return:.1f}"
    reason = f"{teacher!r} returns {eligible[teacher]:.1f}, the target {target_text}"
    return Pull(teacher, source_weights[teacher], reason, source_weights)


def distillation_settings_problem(
    coefficient: float,
    pretrain_updates: int,
    source_training_intensity: float | None,
    target_episodes: int | None,
    release_step: float | None,
) -> str | None:
    """What is wrong with these ``FASTConfig.training`` distillation settings, naming key and value (None: fine)."""
    if release_step is not None and (
        isinstance(release_step, bool) or not isinstance(release_step, (int, float)) or not 0 < release_step <= 1
    ):
        return f"distillation_release_step={release_step!r} must be None or in (0, 1]"
    if target_episodes is not None and (
        isinstance(target_episodes, bool) or not isinstance(target_episodes, int) or target_episodes < 1
    ):
        return f"distillation_target_episodes={target_episodes!r} must be None or an integer >= 1"
    if not coefficient >= 0:
        return f"distillation_coefficient={coefficient!r} must be >= 0"
    if isinstance(pretrain_updates, bool) or not isinstance(pretrain_updates, int) or pretrain_updates < 0:
        return f"distillation_pretrain_updates={pretrain_updates!r} must be an integer >= 0"
    if source_training_intensity is not None and not source_training_intensity > 0:
        return f"source_training_intensity={source_training_intensity!r} must be None or > 0"
    return None
