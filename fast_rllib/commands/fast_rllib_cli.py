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


def _repository_or_exit(path: Path | None, check_modules: bool, trust_pickles: bool = False):
    """Load a repository for a command; a RepositoryError becomes a one-line exit message, not a traceback."""
    from fast_rllib.repository import DEFAULT_REPOSITORY, RepositoryError, SourceRepository

    try:
        return SourceRepository.load(path or DEFAULT_REPOSITORY, check_modules=check_modules, trust_pickles=trust_pickles)
    except RepositoryError as error:
        raise SystemExit(f"error: {error}") from None


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    for index, row in enumerate(cells):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


def _number(value: object) -> str:
    return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def _repo_add(args: argparse.Namespace) -> None:
    """Record, evaluate and store a trained policy (an RLModule or Algorithm checkpoint) as a source."""
    import json

    from ray.rllib.core.rl_module.rl_module import RLModule

    from fast_rllib.build.recording import add_source, resolve_module_checkpoint

    try:
        module = RLModule.from_checkpoint(resolve_module_checkpoint(args.checkpoint))
        entry = add_source(
            args.out, module, args.task, name=args.name, episodes=args.episodes, keep=args.keep,
            stacks_per_episode=args.stacks_per_episode, frame_size=args.frame_size, seed=args.seed,
            task_config=json.loads(args.task_config) if args.task_config else None,
            description=args.description, training_env_steps=args.training_steps,
            baseline_episodes=args.baseline_episodes, overwrite=args.overwrite,
        )
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    info = entry.info
    print(
        f"added {entry.name!r} ({entry.task_id}) to {args.out}: evaluation return {_number(info['evaluation_return'])} "
        f"(controller {_number(info['controller_return'])}, random {_number(info['random_return'])}), "
        f"{len(entry.frames)} frame stacks with returns {_number(float(entry.episode_returns.max()))}"
        f"..{_number(float(entry.episode_returns.min()))}"
    )


def _repo_list(args: argparse.Namespace) -> None:
    repository = _repository_or_exit(args.repository, check_modules=False, trust_pickles=args.trust_pickles)
    rows = []
    for entry in repository:
        description = entry.description if len(entry.description) <= 48 else entry.description[:45] + "..."
        frames = "x".join(str(n) for n in entry.frames.shape)
        rows.append(
            [entry.name, entry.task_id, _number(entry.info.get("evaluation_return")),
             _number(entry.info.get("controller_return")), frames, entry.module_format, description]
        )
    print(f"{len(repository)} source(s) in {repository.path}")
    _print_table(["name", "task", "eval return", "controller", "frames", "module", "description"], rows)
    if any(entry.module_format != "safetensors" for entry in repository):
        print("\nentries whose module is 'pickle' load only with --trust-pickles; `repo convert` rewrites them as data")


def _repo_check(args: argparse.Namespace) -> None:
    """Verify every entry (and the autoencoder); exit non-zero naming each bad one."""
    from fast_rllib.repository import DEFAULT_REPOSITORY, RepositoryError
    from fast_rllib.repository.checking import check_repository

    root = args.repository or DEFAULT_REPOSITORY
    try:
        checks = check_repository(root, trust_pickles=args.trust_pickles)
    except RepositoryError as error:
        raise SystemExit(f"error: {error}") from None
    for check in checks:
        print(f"ok   {check.name}" if check.ok else f"BAD  {check.name}: {check.problem}")
    bad = [check.name for check in checks if not check.ok]
    if bad:
        raise SystemExit(f"error: {len(bad)} of {len(checks)} checked item(s) in {root} are bad: {', '.join(bad)}")
    print(f"all {len(checks)} checked item(s) in {root} are good")


def _repo_convert(args: argparse.Namespace) -> None:
    """Rewrite pickled entries (RLlib checkpoints) as safetensors and a JSON spec, atomically."""
    from fast_rllib.repository import DEFAULT_REPOSITORY, RepositoryError, convert_entry, entry_names

    if not args.trust_pickles:
        raise SystemExit(
            "error: converting loads the old pickles, which run code: pass --trust-pickles if you trust the "
            "repository's author"
        )
    root = args.repository or DEFAULT_REPOSITORY
    try:
        for name in args.names or entry_names(root):
            entry = convert_entry(root, name, trust_pickles=True)
            print(f"{name}: module stored as {entry.module_format}", flush=True)
    except (KeyError, RepositoryError, ValueError) as error:
        raise SystemExit(f"error: {error.args[0]}") from None


def _repo_remove(args: argparse.Namespace) -> None:
    from fast_rllib.repository import DEFAULT_REPOSITORY, RepositoryError, remove_entry

    root = args.repository or DEFAULT_REPOSITORY
    try:
        remove_entry(root, args.name)
    except (KeyError, RepositoryError) as error:
        raise SystemExit(f"error: {error.args[0]}") from None
    print(f"removed {args.name!r} from {root}")


def _repo_show(args: argparse.Namespace) -> None:
    repository = _repository_or_exit(args.repository, check_modules=True, trust_pickles=args.trust_pickles)
    if args.name not in repository:
        raise SystemExit(f"error: no source {args.name!r} in {repository.path}; sources: {', '.join(repository.names)}")
    entry = repository[args.name]
    info = entry.info
    spaces = {key: f"Box{tuple(info[key]['shape'])} {info[key]['dtype']}" for key in ("observation_space", "action_space")}
    rows = [
        ["name", entry.name], ["path", entry.path], ["task", entry.task_id], ["task config", info.get("task_config")],
        ["action mode", info.get("action_mode")], ["observation space", spaces["observation_space"]],
        ["action space", spaces["action_space"]], ["training env steps", _number(info.get("training_env_steps"))],
        ["evaluation return", _number(info.get("evaluation_return"))],
        ["controller return", _number(info.get("controller_return"))],
        ["random return", _number(info.get("random_return"))],
        ["frames", f"{'x'.join(str(n) for n in entry.frames.shape)} uint8"],
        ["stack returns", " ".join(_number(float(value)) for value in entry.episode_returns)],
        ["inference-only module", info.get("module_inference_only")],
        ["module format", entry.module_format],
        ["versions", " ".join(f"{key}={value}" for key, value in (info.get("versions") or {}).items())],
        ["created", info.get("created_at")],
    ]
    _print_table(["field", "value"], rows)
    print("\npolicy network:")
    _print_table(["tensor", "shape"], [[key, tuple(value.shape)] for key, value in entry.inference_state().items()])
    print(f"\ndescription: {entry.description}")


def _repo_record(args: argparse.Namespace) -> None:
    """Re-drive stored policies on their evaluation seeds and replace their frame stacks."""
    from fast_rllib.build.recording import record_again
    from fast_rllib.repository import DEFAULT_REPOSITORY, RepositoryError

    root = args.repository or DEFAULT_REPOSITORY
    for name in args.names:
        try:
            entry = record_again(
                root, name, keep=args.keep, stacks_per_episode=args.stacks_per_episode, frame_size=args.frame_size,
                trust_pickles=args.trust_pickles,
            )
        except (KeyError, RepositoryError, ValueError) as error:
            raise SystemExit(f"error: {error.args[0]}") from None
        print(
            f"re-recorded {name!r} in {root}: {len(entry.frames)} frame stacks, evaluation return "
            f"{_number(entry.info['evaluation_return'])}",
            flush=True,
        )


def _add_stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", type=int, default=10, help="best recorded episodes whose frames are kept")
    parser.add_argument("--stacks-per-episode", type=int, default=4,
                        help="4-frame stacks kept from each of them, spread over the episode")


def _repo_build(args: argparse.Namespace) -> None:
    import ray

    from fast_rllib.build.source_training import BuildSettings, build_repository

    settings = BuildSettings(
        max_env_steps=args.max_env_steps, evaluate_every=args.evaluate_every,
        target_fraction=args.target_fraction, seed=args.seed, updates_per_env_step=args.updates_per_env_step,
        evaluation_episodes=args.evaluation_episodes, record_episodes=args.episodes, keep=args.keep,
        stacks_per_episode=args.stacks_per_episode,
    )
    ray.init(include_dashboard=False, log_to_driver=False)
    build_repository(args.tasks, args.out, settings, log=lambda line: print(line, flush=True), overwrite=args.overwrite)


def _add_repo_commands(commands: argparse._SubParsersAction) -> None:
    """``fast-rllib repo add|build|record|list|show|check|convert|remove``."""
    repo = commands.add_parser("repo", help="the source repository: add trained policies, list, show")
    actions = repo.add_subparsers(dest="repo_command", required=True)

    add = actions.add_parser("add", help="record, evaluate and store a trained policy as a source")
    add.add_argument("--checkpoint", type=Path, required=True, help="RLModule or Algorithm checkpoint directory")
    add.add_argument("--task", required=True, choices=sorted(TASKS), metavar="TASK_ID")
    add.add_argument("--out", type=Path, required=True, help="repository directory (created if missing)")
    add.add_argument("--name", default=None, help="entry name (default: the task id without namespace)")
    add.add_argument("--episodes", type=int, default=15, help="episodes recorded and evaluated (fixed seeds)")
    _add_stack_options(add)
    add.add_argument("--frame-size", type=int, default=DEFAULT_FRAME_SIZE)
    add.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    add.add_argument("--task-config", default=None, help="JSON object of task config overrides")
    add.add_argument("--description", default=None, help="task text (default: the catalogue's)")
    add.add_argument("--training-steps", type=int, default=None, help="env steps the policy was trained for")
    add.add_argument("--baseline-episodes", type=int, default=None,
                     help="episodes for the controller/random baselines (default --episodes; 0 skips)")
    add.add_argument("--overwrite", action="store_true", help="replace an existing entry of that name")
    add.set_defaults(run=_repo_add)

    build = actions.add_parser("build", help="train SAC on each task and store the best policy as a source")
    build.add_argument("--tasks", nargs="+", required=True, choices=sorted(TASKS), metavar="TASK_ID")
    build.add_argument("--out", type=Path, required=True, help="repository directory; existing entries are kept")
    build.add_argument("--max-env-steps", type=int, default=30_000, help="training budget per source")
    build.add_argument("--evaluate-every", type=int, default=2_000, help="env steps between evaluations")
    build.add_argument("--target-fraction", type=float, default=0.9,
                       help="stop once the return reaches this fraction of the lane follower's")
    build.add_argument("--updates-per-env-step", type=float, default=0.25, help="SAC replay ratio while training")
    build.add_argument("--evaluation-episodes", type=int, default=10,
                       help="episodes (fixed seeds) of each evaluation while training")
    build.add_argument("--episodes", type=int, default=15, help="episodes recorded and evaluated once trained")
    _add_stack_options(build)
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--overwrite", action="store_true", help="retrain and replace entries that already exist")
    build.set_defaults(run=_repo_build)

    record = actions.add_parser("record", help="re-record sources' frames from their stored policies (no training)")
    record.add_argument("names", nargs="+", metavar="NAME")
    record.add_argument("--repository", type=Path, default=None, help="default: the repository in the wheel")
    _add_stack_options(record)
    record.add_argument("--frame-size", type=int, default=None, help="default: the size the entry has")
    _add_trust_option(record)
    record.set_defaults(run=_repo_record)

    for command, run, help_text in (
        ("list", _repo_list, "list the sources"),
        ("show", _repo_show, "one source in detail"),
        ("check", _repo_check, "verify every source (module, actions, frames, spaces) and name each bad one"),
        ("convert", _repo_convert, "rewrite pickled sources (RLlib checkpoints) as safetensors and a JSON spec"),
        ("remove", _repo_remove, "delete a source (index first, atomically, then its folder)"),
    ):
        parser = actions.add_parser(command, help=help_text)
        if command == "convert":
            parser.add_argument("names", nargs="*", metavar="NAME", help="default: every entry")
        elif command not in ("list", "check"):
            parser.add_argument("name")
        parser.add_argument("--repository", type=Path, default=None, help="default: the repository in the wheel")
        if command != "remove":
            _add_trust_option(parser)
        parser.set_defaults(run=run)


def _add_trust_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-pickles", action="store_true",
        help="also load entries stored as pickles (RLlib checkpoints): unpickling runs code, so only for "
             "repositories whose author you trust",
    )


def _score(args: argparse.Namespace) -> None:
    """Every source's F and FT score for a task, what FAST would do, and optionally zero-shot returns."""
    from fast_rllib.build.scoring import format_report, plot_report, score_task
    from fast_rllib.fast import FASTConfig
    from fast_rllib.repository import RepositoryError

    frames_from, *policy_path = args.frames_from
    if len(policy_path) != (frames_from == "policy"):
        raise SystemExit("fast-rllib score: --frames-from takes 'lane-follower', 'random' or 'policy PATH'")
    defaults = FASTConfig()
    try:
        report = score_task(
            args.task,
            args.repository or defaults.resolved_repository_path,
            frames_from=frames_from,
            policy_path=policy_path[0] if policy_path else None,
            stacks=args.stacks,
            threshold=defaults.similarity_threshold if args.threshold is None else args.threshold,
            candidate_ratio=defaults.candidate_ratio,
            metric=defaults.similarity_metric,
            text_weight=defaults.text_weight,
            zero_shot_episodes=args.zero_shot,
            seed=args.seed,
            trust_pickles=args.trust_pickles,
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
    score.add_argument("--threshold", type=float, default=None, help="default: FASTConfig's similarity_threshold")
    score.add_argument("--zero-shot", type=int, default=0, metavar="N",
                       help="also drive the task with each source for N episodes and correlate with the scores")
    score.add_argument("--output", "--out", type=Path, default=None, metavar="PNG",
                       help="also draw the scores as a PNG chart there (default: no chart)")
    score.add_argument("--seed", type=int, default=0)
    _add_trust_option(score)
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
    _add_repo_commands(commands)
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
