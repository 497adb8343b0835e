"""The ``rllib`` command that Ray 2.60 no longer ships: ``rllib train file tuned_examples/x.py``.

A tuned-example file defines a module-level ``config`` (an ``AlgorithmConfig``, grid searches allowed)
and optionally ``stop`` (a dict of Tune stop criteria). The command runs it through Tune, so results,
checkpoints and the dashboard work as with any Tune run.
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig


def load_tuned_example(path: str | Path) -> tuple[AlgorithmConfig, dict[str, Any]]:
    """Execute a tuned-example file and return its ``config`` and ``stop`` (empty if it has none)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tuned-example file {str(path)!r} does not exist")
    namespace = runpy.run_path(str(path), run_name="__rllib_train__")
    config = namespace.get("config")
    if not isinstance(config, AlgorithmConfig):
        found = "nothing" if config is None else type(config).__name__
        raise ValueError(
            f"tuned-example file {str(path)!r} must define a module-level `config` (an AlgorithmConfig); found {found}"
        )
    stop = namespace.get("stop", {})
    if not isinstance(stop, Mapping):
        raise ValueError(f"`stop` in {str(path)!r} must be a dict of stop criteria, got {type(stop).__name__}")
    return config, dict(stop)


def run_tuned_example(
    config: AlgorithmConfig,
    stop: Mapping[str, Any],
    *,
    checkpoint_frequency: int = 0,
    checkpoint_at_end: bool = True,
    storage_path: str | None = None,
    ray_address: str | None = None,
    verbose: int = 1,
    name: str | None = None,
):
    """Run one tuned example through Tune; returns the ``ResultGrid``. Raises if any trial failed."""
    import ray
    from ray import tune

    import fast_rllib  # noqa: F401  (task ids for the driver; env creators carry them to workers)

    if not ray.is_initialized():
        ray.init(address=ray_address)
    tuner = tune.Tuner(
        config.algo_class,
        param_space=config,
        run_config=tune.RunConfig(
            name=name,
            stop=dict(stop),
            storage_path=storage_path,
            verbose=verbose,
            checkpoint_config=tune.CheckpointConfig(
                checkpoint_frequency=checkpoint_frequency, checkpoint_at_end=checkpoint_at_end
            ),
        ),
    )
    results = tuner.fit()
    if results.errors:
        raise RuntimeError(f"{len(results.errors)} trial(s) failed; first error: {results.errors[0]}")
    return results


def _parse_json_object(option: str, text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise SystemExit(f"{option} must be a JSON object, e.g. '{{\"training_iteration\": 2}}': {error}") from None
    if not isinstance(value, dict):
        raise SystemExit(f"{option} must be a JSON object, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rllib", description="RLlib command line (provided by fast-rllib)")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train an algorithm")
    train_sources = train.add_subparsers(dest="source", required=True)
    from_file = train_sources.add_parser("file", help="run a tuned-example Python file")
    from_file.add_argument("path", help="a .py file defining `config` (and optionally `stop`)")
    from_file.add_argument("--stop", help="JSON stop criteria; replaces the file's `stop`")
    from_file.add_argument("--config", help="JSON config overrides applied on top of the file's `config`")
    from_file.add_argument("--checkpoint-freq", type=int, default=0, help="checkpoint every N iterations")
    from_file.add_argument("--checkpoint-at-end", action="store_true", help="checkpoint when a trial stops")
    from_file.add_argument("--storage-path", help="where Tune writes results and checkpoints")
    from_file.add_argument("--ray-address", help="address of a running Ray cluster (default: start one locally)")
    from_file.add_argument("-v", "--verbose", action="count", default=1, help="more output (repeatable)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        config, stop = load_tuned_example(args.path)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"rllib: {error}") from None
    override = _parse_json_object("--stop", args.stop)
    config_overrides = _parse_json_object("--config", args.config)
    if config_overrides:
        try:
            config.update_from_dict(config_overrides)
        except (AttributeError, TypeError, ValueError) as error:
            raise SystemExit(f"rllib: --config could not be applied: {error}") from None
    results = run_tuned_example(
        config,
        override if override is not None else stop,
        checkpoint_frequency=args.checkpoint_freq,
        checkpoint_at_end=args.checkpoint_at_end,
        storage_path=str(Path(args.storage_path).resolve()) if args.storage_path else None,
        ray_address=args.ray_address,
        verbose=min(args.verbose, 3),
    )
    for result in results:
        metrics = result.metrics or {}
        print(
            f"trial finished: iterations={metrics.get('training_iteration')} "
            f"env_steps={metrics.get('num_env_steps_sampled_lifetime')} "
            f"return_mean={metrics.get('env_runners', {}).get('episode_return_mean')} "
            f"checkpoint={result.checkpoint.path if result.checkpoint else None}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
