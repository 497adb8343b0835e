"""The ``rllib`` command that Ray 2.60 no longer ships: ``rllib train file tuned_examples/x.py``.

A tuned-example file defines a module-level ``config`` (an ``AlgorithmConfig``, grid searches allowed)
and optionally ``stop`` (a dict of Tune stop criteria). The command runs it through Tune, so results,
checkpoints and the dashboard work as with any Tune run.

Mistakes are caught before anything starts: an unknown ``--config`` key (with the nearest valid one) and
a setting ``validate()`` rejects end the command with one line on stderr (``-v``: the traceback), before
Ray starts or Tune creates a results folder. While it runs, the command prints one line per iteration
(:mod:`.progress`) and filters warnings known to be harmless; ``-v`` brings back Tune's own output and
every worker's log.
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import logging
import runpy
import sys
import traceback
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

from fast_rllib.commands.quiet import quiet_library_noise


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
    verbose: int = 0,
    name: str | None = None,
):
    """Run one tuned example through Tune; returns the ``ResultGrid``. Raises if any trial failed.

    ``verbose`` 0 prints :mod:`.progress` lines only; 1-3 are Tune's own verbosity levels, with every
    worker's log streamed to the driver.
    """
    import ray
    from ray import tune

    import fast_rllib  # noqa: F401  (task ids for the driver; env creators carry them to workers)
    from fast_rllib.commands.progress import IterationLines
    from fast_rllib.fast.sweep_service import start_sweep_service

    if not ray.is_initialized():
        ray.init(address=ray_address, log_to_driver=verbose > 0)
    # Held until every trial has finished: the one service answers the whole sweep.
    sweep_service = start_sweep_service(config)  # noqa: F841
    tuner = tune.Tuner(
        config.algo_class,
        param_space=config,
        run_config=tune.RunConfig(
            name=name,
            stop=dict(stop),
            storage_path=storage_path,
            verbose=verbose,
            callbacks=[IterationLines(several_trials=bool(list(grid_searches(config))))] if verbose == 0 else None,
            checkpoint_config=tune.CheckpointConfig(
                checkpoint_frequency=checkpoint_frequency, checkpoint_at_end=checkpoint_at_end
            ),
        ),
    )
    results = tuner.fit()
    if results.errors:
        raise RuntimeError(f"{len(results.errors)} trial(s) failed; first error: {results.errors[0]}")
    return results


# A valid example for each JSON option: a stop criterion for --stop, a setting of every AlgorithmConfig
# for --config (tests check that each is accepted by its option).
JSON_EXAMPLES = {"--stop": '{"training_iteration": 2}', "--config": '{"seed": 1}'}


def _parse_json_object(option: str, text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{option} must be a JSON object, e.g. '{JSON_EXAMPLES[option]}': {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{option} must be a JSON object, got {text!r}")
    return value


def check_config_keys(config: AlgorithmConfig, overrides: Mapping[str, Any]) -> None:
    """Reject keys the config does not have, naming the nearest valid one: a misspelled key would otherwise
    be accepted and ignored."""
    valid = sorted(key for key in vars(config) if not key.startswith("_"))
    for key in overrides:
        if key not in valid:
            nearest = difflib.get_close_matches(key, valid, n=1)
            hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
            raise ValueError(f"--config key {key!r} is not a setting of {type(config).__name__}{hint}")


def apply_overrides(config: AlgorithmConfig, overrides: Mapping[str, Any] | None, trust_pickles: bool) -> None:
    """``--config`` keys (checked first) and ``--trust-pickles`` applied to the file's config."""
    if overrides:
        check_config_keys(config, overrides)
        config.update_from_dict(overrides)
    if trust_pickles:
        if not hasattr(config, "trust_pickles"):
            raise ValueError(
                f"--trust-pickles is for configs that load source modules (FASTConfig); {type(config).__name__} has none"
            )
        config.trust_pickles = True


def grid_searches(config: AlgorithmConfig) -> Iterator[tuple[str, list]]:
    """(key, values) of every top-level ``tune.grid_search`` in ``config``."""
    for key, value in vars(config).items():
        if isinstance(value, dict) and set(value) == {"grid_search"}:
            yield key, list(value["grid_search"])


def validate_every_variant(config: AlgorithmConfig) -> None:
    """``validate()`` each combination a grid would run (the config itself when there is no grid), on a
    copy, so that a bad value fails here instead of inside a Tune trial."""
    grid = dict(grid_searches(config))
    for values in itertools.product(*grid.values()):
        variant = config.copy(copy_frozen=False)
        for key, value in zip(grid, values):
            setattr(variant, key, value)
        variant.validate()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rllib", description="RLlib command line (provided by fast-rllib)")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train an algorithm")
    train_sources = train.add_subparsers(dest="source", required=True)
    from_file = train_sources.add_parser("file", help="run a tuned-example Python file")
    from_file.add_argument("path", help="a .py file defining `config` (and optionally `stop`)")
    from_file.add_argument("--stop", help="JSON stop criteria; replaces the file's `stop`")
    from_file.add_argument("--config", help="JSON config overrides applied on top of the file's `config`, e.g. "
                           f"'{JSON_EXAMPLES['--config']}'")
    from_file.add_argument(
        "--trust-pickles", action="store_true",
        help="let FAST load source entries still stored as pickles (RLlib checkpoints); unpickling runs code",
    )
    from_file.add_argument("--checkpoint-freq", type=int, default=0, help="checkpoint every N iterations")
    from_file.add_argument(
        "--checkpoint-at-end", action=argparse.BooleanOptionalAction, default=True,
        help="checkpoint when a trial stops (default: on)",
    )
    from_file.add_argument("--storage-path", help="where Tune writes results and checkpoints")
    from_file.add_argument("--ray-address", help="address of a running Ray cluster (default: start one locally)")
    from_file.add_argument(
        "-v", "--verbose", action="count", default=0,
        help="Tune's own output, worker logs and full tracebacks (repeat for more)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if not args.verbose:
        # Known-harmless noise of RLlib 2.60 and its dependencies ("you are running SAC on the new API
        # stack", deprecations, SDL's XDG_RUNTIME_DIR line), filtered in this entry point only; errors still show.
        quiet_library_noise()
        logging.getLogger("ray.rllib").setLevel(logging.ERROR)
    try:
        config, stop = load_tuned_example(args.path)
        override = _parse_json_object("--stop", args.stop)
        apply_overrides(config, _parse_json_object("--config", args.config), trust_pickles=args.trust_pickles)
        validate_every_variant(config)
    except (FileNotFoundError, ValueError, TypeError, AttributeError) as error:
        if args.verbose:
            traceback.print_exc()
        raise SystemExit(f"rllib: {_one_line(error)}") from None
    results = run_tuned_example(
        config,
        override if override is not None else stop,
        checkpoint_frequency=args.checkpoint_freq,
        checkpoint_at_end=args.checkpoint_at_end,
        storage_path=str(Path(args.storage_path).resolve()) if args.storage_path else None,
        ray_address=args.ray_address,
        verbose=min(args.verbose, 3),
    )
    from fast_rllib.commands.progress import closing_summary

    for result in results:
        checkpoint = result.checkpoint.path if result.checkpoint else None
        print(closing_summary(result.metrics or {}, result.path, checkpoint), flush=True)


# RLlib appends this advice to every validation error; the command's users should fix the value instead.
_RLLIB_ADVICE = "To suppress all validation errors"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split(_RLLIB_ADVICE)[0].split())


if __name__ == "__main__":
    main(sys.argv[1:])
