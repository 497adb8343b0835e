"""What one stack costs the frame encoder on the CPU as more stacks share a convolution pass.

Usage:
    python benchmarks/encoder_batch.py [--rounds 20] [--out benchmarks/results/encoder_batch.json]

The shared similarity service answers a batch of queries with one encoder pass; on a GPU a bigger pass is
cheaper per stack, on the CPU it is not past some size (the activations outgrow the caches). This measures
the shipped autoencoder's convolutions over 8 to 256 stacks per pass (1 to 32 FAST queries of 8 stacks),
on one thread as a Ray actor gets it (OMP_NUM_THREADS=1), sizes in alternating order each round (the
machine is shared: compare within the run). The frames are the lane follower's on the catalogue's
``fast/racetrack-v0``, no benchmark target. ``CPU_STACKS_PER_PASS`` in
``fast_rllib/embedding/autoencoder.py`` was set from this run: passes of up to a few FAST windows cost the
same per stack (which of them is cheapest changes from run to run) and larger passes far more, so the CPU
takes one window per pass.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

torch.set_num_threads(1)

from fast_rllib.atomic_write import write_json_atomically  # noqa: E402
from fast_rllib.build.frame_collection import collect_frame_stacks  # noqa: E402
from fast_rllib.checkout_paths import checkout_relative  # noqa: E402
from fast_rllib.embedding.autoencoder import CPU_STACKS_PER_PASS, FrameAutoencoder, to_unit_interval  # noqa: E402
from fast_rllib.service import shipped_autoencoder_dir  # noqa: E402
from fast_rllib.tasks.controller import LaneFollowingController  # noqa: E402

RESULTS = Path(__file__).parent / "results"
TASK = "fast/racetrack-v0"
PASS_SIZES = (8, 16, 32, 64, 128, 256)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=RESULTS / "encoder_batch.json")
    args = parser.parse_args()
    autoencoder = FrameAutoencoder.load(shipped_autoencoder_dir())
    trunk = autoencoder.encoder[:-2]  # the convolutions; the code layer runs per query anyway
    frames = collect_frame_stacks(TASK, max(PASS_SIZES), autoencoder.config.frame_size, LaneFollowingController(), seed=3)
    stacks = to_unit_interval(frames)
    per_stack_ms: dict[int, list[float]] = {size: [] for size in PASS_SIZES}
    with torch.no_grad():
        for size in PASS_SIZES:  # warm-up
            trunk(stacks[:size])
        for round_index in range(args.rounds):
            order = PASS_SIZES if round_index % 2 == 0 else PASS_SIZES[::-1]
            for size in order:
                start = time.perf_counter()
                # The same stacks per round for every size: 256 stacks in passes of `size`.
                for part in torch.split(stacks, size):
                    trunk(part)
                per_stack_ms[size].append((time.perf_counter() - start) * 1000 / len(stacks))
    medians = {size: statistics.median(values) for size, values in per_stack_ms.items()}
    chosen = min(medians, key=medians.__getitem__)
    cheapest = medians[chosen]
    report = {
        "task": TASK,
        "rounds": args.rounds,
        "threads": torch.get_num_threads(),
        "median_ms_per_stack": {str(size): round(value, 3) for size, value in medians.items()},
        "relative_to_cheapest": {str(size): round(value / cheapest, 3) for size, value in medians.items()},
        "cheapest_pass": chosen,
        "cpu_stacks_per_pass_in_code": CPU_STACKS_PER_PASS,
    }
    write_json_atomically(args.out, report)
    for size in PASS_SIZES:
        print(f"{size:4d} stacks per pass: {medians[size]:.3f} ms per stack ({medians[size] / cheapest:.2f}x the cheapest)")
    print(f"cheapest pass: {chosen} stacks (code: {CPU_STACKS_PER_PASS}); wrote {checkout_relative(args.out)}")


if __name__ == "__main__":
    main()
