"""The ``fast-rllib`` command: look at the task catalogue and what FAST sees of a task."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence


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
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if getattr(args, "steps", 4) < 4:
        raise SystemExit("--steps must be at least 4: a stack holds 4 consecutive frames")
    args.run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
