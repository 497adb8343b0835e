"""``fast-rllib repo ...``: build, add, record, measure, list, show, check, convert and remove repository sources.

Every repository problem ends a command with one ``error: ...`` line naming the entry, the file and what
is wrong (a :class:`RepositoryError` is a message for the user, not a traceback).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from fast_rllib.tasks import TASKS
from fast_rllib.tasks.frames import DEFAULT_FRAME_SIZE


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
        ["transfer record", _number(entry.transfer_record.share_of_lane_follower) if entry.transfer_record else "-"],
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


def _repo_measure_transfer(args: argparse.Namespace) -> None:
    """Drive each source zero-shot on the reference tracks and store its transfer record in its source.json."""
    from fast_rllib.repository import RepositoryError
    from fast_rllib.build.transfer_measurement import measure_transfer_records
    from fast_rllib.repository.transfer_record import reference_tracks
    from fast_rllib.repository.writing import store_transfer_record

    repository = _repository_or_exit(args.repository, check_modules=False, trust_pickles=args.trust_pickles)
    unknown = [name for name in args.names if name not in repository]
    if unknown:
        raise SystemExit(f"error: no source(s) {unknown} in {repository.path}; sources: {', '.join(repository.names)}")
    try:
        tracks = reference_tracks(args.tracks)
        modules = {name: repository[name].load_module() for name in args.names or repository.names}
    except (RepositoryError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    records = measure_transfer_records(modules, tracks, episodes=args.episodes)
    for name, record in records.items():
        store_transfer_record(repository.path, name, record)
        print(f"{name}: {record.share_of_lane_follower:.3f} of the lane follower's return over {len(tracks)} tracks", flush=True)


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
        stacks_per_episode=args.stacks_per_episode, algorithm=args.algorithm,
    )
    ray.init(include_dashboard=False, log_to_driver=False)
    build_repository(args.tasks, args.out, settings, log=lambda line: print(line, flush=True), overwrite=args.overwrite)


def add_repo_commands(commands: argparse._SubParsersAction) -> None:
    """``fast-rllib repo add|build|record|measure-transfer|list|show|check|convert|remove``."""
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

    build = actions.add_parser("build", help="train SAC (or DQN) on each task and store the best policy as a source")
    build.add_argument("--tasks", nargs="+", required=True, choices=sorted(TASKS), metavar="TASK_ID")
    build.add_argument("--out", type=Path, required=True, help="repository directory; existing entries are kept")
    build.add_argument("--max-env-steps", type=int, default=30_000, help="training budget per source")
    build.add_argument("--evaluate-every", type=int, default=2_000, help="env steps between evaluations")
    build.add_argument("--target-fraction", type=float, default=0.9,
                       help="stop once the return reaches this fraction of the lane follower's")
    build.add_argument("--updates-per-env-step", type=float, default=0.25, help="replay ratio while training")
    build.add_argument("--evaluation-episodes", type=int, default=10,
                       help="episodes (fixed seeds) of each evaluation while training")
    build.add_argument("--episodes", type=int, default=15, help="episodes recorded and evaluated once trained")
    _add_stack_options(build)
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--algorithm", choices=("sac", "dqn"), default="sac",
                       help="dqn: train DQN on the task's discrete-steering variant (sources for FASTDQN targets)")
    build.add_argument("--overwrite", action="store_true", help="retrain and replace entries that already exist")
    build.set_defaults(run=_repo_build)

    record = actions.add_parser("record", help="re-record sources' frames from their stored policies (no training)")
    record.add_argument("names", nargs="+", metavar="NAME")
    record.add_argument("--repository", type=Path, default=None, help="default: the repository in the wheel")
    _add_stack_options(record)
    record.add_argument("--frame-size", type=int, default=None, help="default: the size the entry has")
    add_trust_option(record)
    record.set_defaults(run=_repo_record)

    measure = actions.add_parser(
        "measure-transfer", help="store each source's transfer record: its zero-shot return on reference tracks"
    )
    measure.add_argument("names", nargs="*", metavar="NAME", help="default: every entry")
    measure.add_argument("--repository", type=Path, default=None, help="default: the repository in the wheel")
    measure.add_argument("--tracks", type=int, default=10, help="how many of the 10 reference tracks (generated seeds 10-19) to drive")
    measure.add_argument("--episodes", type=int, default=5, help="fixed-seed episodes per track")
    add_trust_option(measure)
    measure.set_defaults(run=_repo_measure_transfer)

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
            add_trust_option(parser)
        parser.set_defaults(run=run)


def add_trust_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-pickles", action="store_true",
        help="also load entries stored as pickles (RLlib checkpoints): unpickling runs code, so only for "
             "repositories whose author you trust",
    )
