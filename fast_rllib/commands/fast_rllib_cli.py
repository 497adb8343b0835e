"""The ``fast-rllib`` command: look at the task catalogue and what FAST sees of a task."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from fast_rllib.commands.repo_commands import add_repo_commands, add_trust_option
from fast_rllib.tasks import ACTION_MODES, TASKS, make_task_env
from fast_rllib.tasks.controller import LaneFollowingController
from fast_rllib.tasks.frames import DEFAULT_FRAME_SIZE, FrameCapture
from fast_rllib.tasks.rendering import save_frame_stack_png


def _list_tasks(_: argparse.Namespace) -> None:
    width = max(len(task_id) for task_id in TASKS)
    for task_id, task in TASKS.items():
        print(f"{task_id:<{width}}  {task.kind:<7}  {task.description}")


def _save_frames(args: argparse.Namespace) -> None:
    """Drive a task with the lane follower and save the final 4-frame stack, as FAST would embed it."""
    env = FrameCapture(make_task_env(args.task, action_mode=args.action_mode), args.frame_size)
    controller = LaneFollowingController(args.action_mode)
    observation, _ = env.reset(seed=args.seed)
    for step in range(args.steps):
        if step == args.steps - 4:
            env.start_capture()
        observation, _, terminated, truncated, _ = env.step(controller(observation))
        if terminated or truncated:
            raise SystemExit(f"episode of {args.task} ended after {step + 1} steps; ask for fewer --steps")
    stack = env.frame_stack()
    env.close()
    save_frame_stack_png(stack, args.out, title=args.task)
    print(f"saved a {stack.shape} {stack.dtype} frame stack of {args.task} to {args.out}")


def _train_autoencoder(args: argparse.Namespace) -> None:
    """Train the frame autoencoder on every catalogue task (and a repository's cached frames)."""
    from fast_rllib.build.autoencoder_training import TrainingSettings
    from fast_rllib.build.catalogue_training import REPORT_FILE, train_catalogue_autoencoder
    from fast_rllib.embedding.autoencoder import AutoencoderConfig

    try:
        config = AutoencoderConfig(frame_size=args.frame_size, code_dim=args.code_dim)
        settings = TrainingSettings(max_epochs=args.max_epochs, patience=args.patience, seed=args.seed)
        task_ids = list(TASKS) if args.include_held_out else None
        _, report = train_catalogue_autoencoder(
            args.out, config, args.stacks_per_task, args.repository, settings, task_ids=task_ids
        )
    except (ValueError, FileNotFoundError) as error:  # bad arguments or repository: a message, not a traceback
        raise SystemExit(f"fast-rllib autoencoder train: {error}") from None
    print(
        f"held-out MSE {report['validation_mse']:.5f} vs mean-frame baseline {report['mean_frame_mse']:.5f} "
        f"(baseline / model = {report['mean_frame_over_validation_mse']:.2f}x); "
        f"best epoch {report['best_epoch']} of {report['epochs']}; {report['stacks']} stacks; "
        f"{report['seconds']['total']:.0f} s"
    )
    print(f"saved the autoencoder and {REPORT_FILE} to {args.out}")


def _add_autoencoder_commands(commands: argparse._SubParsersAction) -> None:
    autoencoder = commands.add_parser("autoencoder", help="the frame autoencoder behind FAST's visual embedding")
    actions = autoencoder.add_subparsers(dest="autoencoder_command", required=True)
    train = actions.add_parser("train", help="train it on every catalogue task (and a repository's frames)")
    train.add_argument("--out", type=Path, required=True, help="directory for autoencoder.pt/.json and the report")
    train.add_argument("--repository", type=Path, default=None, help="also train on this repository's cached frames")
    train.add_argument("--frame-size", type=int, default=DEFAULT_FRAME_SIZE)
    train.add_argument("--code-dim", type=int, default=128)
    train.add_argument("--stacks-per-task", type=int, default=64, help="half lane follower, half random actions")
    train.add_argument("--max-epochs", type=int, default=60)
    train.add_argument("--patience", type=int, default=6, help="early stopping: epochs without held-out progress")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--include-held-out", action="store_true",
                       help="also train on the held-out racing targets (Indiana, complex): not for benchmarks")
    train.set_defaults(run=_train_autoencoder)


def _score(args: argparse.Namespace) -> None:
    """Every source's F and FT score for a task, what FAST would do, and optionally zero-shot returns."""
    from fast_rllib.build.scoring import format_report, plot_report, score_task
    from fast_rllib.fast import FASTConfig
    from fast_rllib.fast.config import PAPER_THRESHOLD
    from fast_rllib.repository import RepositoryError

    frames_from, *policy_path = args.frames_from
    if len(policy_path) != (frames_from == "policy"):
        raise SystemExit("fast-rllib score: --frames-from takes 'lane-follower', 'random' or 'policy PATH'")
    defaults = FASTConfig()
    try:
        report = score_task(
            args.task,
            args.repository or defaults.resolved_repository_path,
            trust_pickles=args.trust_pickles,
            frames_from=frames_from,
            policy_path=policy_path[0] if policy_path else None,
            stacks=args.stacks,
            threshold=PAPER_THRESHOLD if args.threshold is None else args.threshold,
            candidate_ratio=defaults.candidate_ratio,
            metric=defaults.similarity_metric,
            text_weight=defaults.text_weight,
            zero_shot_episodes=args.zero_shot,
            seed=args.seed,
        )
    except (ValueError, FileNotFoundError, RepositoryError) as error:
        raise SystemExit(f"fast-rllib score: {error}") from None
    print(format_report(report))
    if args.output is not None:
        plot_report(report, args.output)
        print(f"saved the chart to {args.output}")


def _add_score_command(commands: argparse._SubParsersAction) -> None:
    score = commands.add_parser("score", help="score every source against a task: would FAST transfer, and from whom?")
    score.add_argument("--task", required=True, help="a catalogue id, fast/generated-<seed>-v0 or a registered id")
    score.add_argument("--repository", type=Path, default=None, help="default: the repository in the wheel")
    score.add_argument("--frames-from", nargs="+", default=["lane-follower"], metavar="WHO",
                       help="whose driving the target frames show: lane-follower, random, or policy PATH")
    score.add_argument("--stacks", type=int, default=8, help="target stacks scored together (FAST's window)")
    score.add_argument("--threshold", type=float, default=None, help="default: the paper rule's Θ (PAPER_THRESHOLD in fast_rllib/fast/config.py)")
    score.add_argument("--zero-shot", type=int, default=0, metavar="N",
                       help="also drive the task with each source for N episodes and correlate with the scores")
    score.add_argument("--output", "--out", type=Path, default=None, metavar="PNG",
                       help="also draw the scores as a PNG chart there (default: no chart)")
    score.add_argument("--seed", type=int, default=0)
    add_trust_option(score)
    score.set_defaults(run=_score)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fast-rllib", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    tasks = commands.add_parser("tasks", help="list the task catalogue")
    tasks.set_defaults(run=_list_tasks)

    frames = commands.add_parser("frames", help="save a task's 4-frame stack as a PNG")
    frames.add_argument("--task", default="fast/racetrack-v0", choices=sorted(TASKS), metavar="TASK_ID")
    frames.add_argument("--out", type=Path, default=Path("frames.png"))
    frames.add_argument("--steps", type=int, default=20, help="env steps before the stack is taken (>= 4)")
    frames.add_argument("--frame-size", type=int, default=DEFAULT_FRAME_SIZE)
    frames.add_argument("--action-mode", default="steering", choices=ACTION_MODES)
    frames.add_argument("--seed", type=int, default=0)
    frames.set_defaults(run=_save_frames)
    _add_autoencoder_commands(commands)
    add_repo_commands(commands)
    _add_score_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    from fast_rllib.commands.quiet import quiet_library_noise

    quiet_library_noise()
    args = build_parser().parse_args(argv)
    if getattr(args, "steps", 4) < 4:
        raise SystemExit("--steps must be at least 4: a stack holds 4 consecutive frames")
    args.run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
