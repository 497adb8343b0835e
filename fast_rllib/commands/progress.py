"""What ``rllib train file`` prints: one line per training iteration and a closing summary per trial.

Tune's own progress table cuts column names to fit and shows nothing of FAST; these lines say what a
user of FAST wants to see while it runs: how far it is, how fast, who drives and how often each behaviour
has driven, how similar the best sources look, and how well the *target* policy does on its own, kept
apart from the returns earned while a frozen source drove.
"""

from __future__ import annotations

from typing import Any, Mapping

from ray.rllib.core import DEFAULT_MODULE_ID
from ray.tune import Callback

from fast_rllib.fast.selection import TARGET

TOP_SCORES = 3
# Why a behaviour's return is missing: returns are of whole episodes, and a short run (or a short turn at the
# wheel) can end before any episode does.
NO_EPISODE_ENDED = "no episode ended while it drove"


def _fast(result: Mapping[str, Any]) -> Mapping[str, Any]:
    return result.get("fast") or {}


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN: nothing measured yet


def _format_return(value: Any) -> str:
    number = _number(value)
    return "n/a" if number is None else f"{number:.1f}"


def driving_shares(fast: Mapping[str, Any]) -> str:
    """``"racetrack-oval-v0 97%, target 3%"``: each behaviour's share of the env steps so far."""
    steps = {name: _number(count) or 0.0 for name, count in (fast.get("env_steps") or {}).items()}
    total = sum(steps.values())
    if not total:
        return ""
    ordered = sorted(steps.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} {count / total:.0%}" for name, count in ordered)


def current_behaviour(fast: Mapping[str, Any]) -> str:
    drives = fast.get("drives") or {}
    return next((name for name, flag in drives.items() if flag), TARGET)


def distillation_part(distillation: Mapping[str, Any], learner: Mapping[str, Any]) -> str:
    """``"pull chicane-v0 0.62 (loss 0.013)"``: the teacher, its weight and the last imitation loss."""
    teacher = next((name for name, flag in (distillation.get("teacher") or {}).items() if flag), None)
    if teacher is None:
        return "pull none"
    loss = _number(learner.get("distillation_loss"))
    loss_text = "" if loss is None else f" (loss {loss:.3f})"
    return f"pull {teacher} {_number(distillation.get('weight')) or 0.0:.2f}{loss_text}"


def iteration_line(result: Mapping[str, Any], trial: str | None = None) -> str:
    """One line for one iteration of a FAST (or plain SAC) trial."""
    steps = int(_number(result.get("num_env_steps_sampled_lifetime")) or 0)
    seconds = _number(result.get("time_this_iter_s"))
    iteration_steps = _number((result.get("env_runners") or {}).get("num_env_steps_sampled"))
    rate = f"{iteration_steps / seconds:.0f}" if iteration_steps and seconds else "n/a"
    parts = [f"[{trial}]" if trial else "", f"iter {result.get('training_iteration')}", f"env steps {steps:,}", f"{rate} steps/s"]
    fast = _fast(result)
    if fast:
        scores = {name: _number(value) for name, value in (fast.get("score") or {}).items()}
        top = sorted(((value, name) for name, value in scores.items() if value is not None), reverse=True)[:TOP_SCORES]
        parts += [
            f"drives {current_behaviour(fast)}",
            f"share {driving_shares(fast) or 'n/a'}",
            "top " + (", ".join(f"{name} {value:.2f}" for value, name in top) or "n/a"),
            f"switches {int(_number(fast.get('switches')) or 0)}",
            f"target return {_format_return((fast.get('episode_return') or {}).get(TARGET))}",
        ]
        if fast.get("distillation"):
            parts.append(distillation_part(fast["distillation"], (result.get("learners") or {}).get(DEFAULT_MODULE_ID) or {}))
    else:
        parts.append(f"return {_format_return((result.get('env_runners') or {}).get('episode_return_mean'))}")
    return "  ".join(part for part in parts if part)


def _closing_return(value: Any, missing: str) -> str:
    """A return for the summary; ``missing`` says why there is none (a bare "n/a" reads like a failure)."""
    number = _number(value)
    return f"n/a ({missing})" if number is None else f"{number:.1f}"


def _behaviour_return(value: Any) -> str:
    number = _number(value)
    return f"return n/a, {NO_EPISODE_ENDED}" if number is None else f"return {number:.1f} over the episodes it drove"


def closing_summary(result: Mapping[str, Any], path: str | None, checkpoint: str | None) -> str:
    """The end of one trial: the target's own return kept apart from the returns of source-driven episodes."""
    lines = [
        f"trial finished: iterations={result.get('training_iteration')} "
        f"env_steps={int(_number(result.get('num_env_steps_sampled_lifetime')) or 0)}"
    ]
    fast = _fast(result)
    returns = fast.get("episode_return") or {}
    if fast:
        steps = {name: int(_number(count) or 0) for name, count in (fast.get("env_steps") or {}).items()}
        lines.append(
            f"  target policy: {_behaviour_return(returns.get(TARGET))} ({steps.get(TARGET, 0):,} env steps)"
        )
        for name in sorted(set(returns) - {TARGET}):
            lines.append(
                f"  driven by source {name}: {_behaviour_return(returns[name])} ({steps.get(name, 0):,} env steps; "
                "the frozen source's driving, not the target's)"
            )
    else:
        episode_return = (result.get("env_runners") or {}).get("episode_return_mean")
        lines.append(f"  return {_closing_return(episode_return, 'no episode ended during the run')}")
    lines.append(f"  results: {path}")
    lines.append(f"  checkpoint: {checkpoint or 'none (pass --checkpoint-at-end or --checkpoint-freq)'}")
    return "\n".join(lines)


class IterationLines(Callback):
    """Prints :func:`iteration_line` for every result Tune reports."""

    def __init__(self, several_trials: bool) -> None:
        self._several_trials = several_trials

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info: Any) -> None:
        print(iteration_line(result, str(trial) if self._several_trials else None), flush=True)
