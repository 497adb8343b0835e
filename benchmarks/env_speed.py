"""Env steps per second of every catalogue task with random actions, plus the facts for the README's task table.

Usage: python benchmarks/env_speed.py [--steps 600] [--out benchmarks/results/env_speed.json]
Prints a markdown table and writes the same rows as JSON.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

import numpy as np

from fast_rllib.atomic_write import write_json_atomically
from fast_rllib.tasks import TASKS, make_task_env


def road_facts(env, closed_track: bool) -> tuple[int, float | None]:
    """Lanes on the first road edge, and for a closed track the length of one lap of lane 0."""
    graph = env.unwrapped.road.network.graph
    first_edge = next(iter(next(iter(graph.values())).values()))
    if not closed_track:
        return len(first_edge), None
    return len(first_edge), sum(lanes[0].length for edges in graph.values() for lanes in edges.values())


def measure(task_id: str, steps: int, seed: int = 0, policy: Callable[[np.ndarray], np.ndarray] | None = None) -> dict:
    """Steps/s of one task driven by ``policy`` (default: random actions, whose episodes end within a few
    seconds; a driving policy keeps the traffic in view for whole episodes)."""
    env = make_task_env(task_id)
    env.action_space.seed(seed)
    observation, _ = env.reset(seed=seed)
    lanes, lap_length = road_facts(env, closed_track=TASKS[task_id].kind == "racing")
    episodes = 0
    start = time.perf_counter()
    for _ in range(steps):
        action = env.action_space.sample() if policy is None else policy(observation)
        observation, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            episodes += 1
            observation, _ = env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return {
        "task_id": task_id,
        "kind": TASKS[task_id].kind,
        "lanes": lanes,
        "lap_length_m": None if lap_length is None else round(lap_length, 1),
        "steps_per_s": round(steps / elapsed, 1),
        "episodes": episodes,
        "description": TASKS[task_id].description,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "env_speed.json")
    args = parser.parse_args()

    rows = [measure(task_id, args.steps) for task_id in TASKS]
    print("| id | kind | lanes | lap (m) | steps/s | description |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        lap = "-" if row["lap_length_m"] is None else f"{row['lap_length_m']:.0f}"
        print(f"| `{row['task_id']}` | {row['kind']} | {row['lanes']} | {lap} | {row['steps_per_s']:.0f} | {row['description']} |")
    write_json_atomically(args.out, {"steps": args.steps, "rows": rows})
    print(f"wrote {args.out}; slowest: {min(rows, key=lambda r: r['steps_per_s'])['task_id']}")


if __name__ == "__main__":
    main()
