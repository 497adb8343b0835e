"""Loading the shipped zoo: the safetensors format side by side with the pickled RLlib checkpoints it replaced.

Usage:
    python benchmarks/repository_load.py [--rounds 30] [--out benchmarks/results/repository_load.json]

The pickled copy is made in a temporary folder from the zoo itself (each module written back with RLlib's
``save_to_path``, checksums dropped), so both formats hold the same weights, frames and text. Each round
times, for each format in alternating order (this machine is shared and noisy: compare the ratios):

- ``frames_only``: ``SourceRepository.load(check_modules=False)``, what ``repo list`` and the similarity
  service do (the safe format also compares every module file's size with the recorded one here);
- ``weights_checked``: ``load(..., states_only=True)`` against the first entry, what ``FASTConfig.validate``
  does on the driver (safe: the weights are read and hashed, no module is built; pickled: every module is
  unpickled);
- ``modules_loaded``: ``load()`` with every module built, what FAST's algorithm does before broadcasting.

Writes, per format and operation, the median milliseconds of wall time and of this process's CPU time, and
the ratios safe / pickled of both. The machine is shared: other jobs stretch wall time at random, while CPU
time (one torch thread) counts only this process's work, so its ratio is the steadier one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

torch.set_num_threads(1)

from fast_rllib.atomic_write import write_json_atomically  # noqa: E402
from fast_rllib.checkout_paths import checkout_relative  # noqa: E402
from fast_rllib.repository import DEFAULT_REPOSITORY, SourceRepository  # noqa: E402
from fast_rllib.repository.layout import CHECKSUM_KEY, MODULE_DIR, SOURCE_FILE  # noqa: E402

DEFAULT_OUT = Path(__file__).parent / "results" / "repository_load.json"
FORMATS = ("safetensors", "pickle")


def pickled_copy(source: Path, destination: Path) -> Path:
    """The repository at ``source`` with every module stored as an RLlib checkpoint (pickles), as before."""
    shutil.copytree(source, destination)
    for entry in SourceRepository.load(destination):
        module = entry.load_module()
        shutil.rmtree(entry.module_path)
        module.save_to_path(entry.module_path)
        info = json.loads((entry.path / SOURCE_FILE).read_text())
        info.pop(CHECKSUM_KEY)
        info.pop("module_format")
        (entry.path / SOURCE_FILE).write_text(json.dumps(info, indent=2))
    assert not list(destination.rglob(f"{MODULE_DIR}/*.safetensors"))
    return destination


def operations(path: Path, trust: bool) -> dict[str, Callable[[], object]]:
    return {
        "frames_only": lambda: SourceRepository.load(path, check_modules=False, trust_pickles=trust),
        "weights_checked": lambda: SourceRepository.load(path, states_only=True, trust_pickles=trust),
        "modules_loaded": lambda: SourceRepository.load(path, trust_pickles=trust),
    }


def measure(paths: dict[str, Path], rounds: int, clock: Callable[[], float]) -> dict[str, dict[str, list[float]]]:
    """Milliseconds of ``clock`` per round, format and operation; the first round warms caches and is dropped."""
    timings: dict[str, dict[str, list[float]]] = {name: {} for name in FORMATS}
    for round_index in range(rounds + 1):
        order = FORMATS if round_index % 2 == 0 else FORMATS[::-1]
        for name in order:
            for operation, run in operations(paths[name], trust=name == "pickle").items():
                started = clock()
                run()
                elapsed = (clock() - started) * 1000
                if round_index:
                    timings[name].setdefault(operation, []).append(elapsed)
    return timings


def summarise(timings: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    return {name: {op: round(statistics.median(values), 2) for op, values in ops.items()} for name, ops in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY, help="a safetensors repository")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="repository-load-") as temporary:
        paths = {"safetensors": args.repository.resolve(), "pickle": pickled_copy(args.repository, Path(temporary) / "zoo")}
        clocks = {"wall": time.perf_counter, "cpu": time.process_time}
        medians = {kind: summarise(measure(paths, args.rounds, clock)) for kind, clock in clocks.items()}
    ratios = {
        kind: {op: round(values["safetensors"][op] / values["pickle"][op], 3) for op in values["safetensors"]}
        for kind, values in medians.items()
    }
    for operation in ratios["cpu"]:
        print(f"{operation:<16} cpu: safetensors {medians['cpu']['safetensors'][operation]:6.1f} ms, pickle "
              f"{medians['cpu']['pickle'][operation]:6.1f} ms, ratio {ratios['cpu'][operation]:.2f}   "
              f"wall ratio {ratios['wall'][operation]:.2f}")
    write_json_atomically(args.out, {
        "repository": checkout_relative(args.repository),
        "entries": len(SourceRepository.load(args.repository, check_modules=False)),
        "rounds": args.rounds,
        "median_ms": medians,
        "ratio_safetensors_over_pickle": ratios,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(),
                    "load_average_1min": round(os.getloadavg()[0], 2)},  # other work on the machine skews timings
    })
    print(f"wrote {checkout_relative(args.out)}")


if __name__ == "__main__":
    main()
