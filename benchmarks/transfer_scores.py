"""What FAST knows about each source before trying it, on every track of the transfer table.

Usage:
    python benchmarks/transfer_scores.py                 # every track of the transfer table, resumable
    python benchmarks/transfer_scores.py --report-only   # candidates' table from the stored rows

For each track of ``benchmarks/results/transfer_table`` and each zoo source, the inputs a transferability
score may use (issue 33), gathered the way FAST gathers them at its first decision, with no env step
beyond those an untrained target drives anyway:

- ``score_F``, ``score_FT``: the paper's cosine similarity (FASTConfig's metric and text weight) of the
  target's frames, captured while a random policy drives (what an untrained learner shows), with the
  source's stored frames;
- ``log_std``: the source actor's mean log standard deviation on the observations of the same random
  driving of the target, a source-model-on-target-data estimator (LEEP's idea: the source's own outputs
  on target inputs): a SAC actor is unsure where its training never took it.

The zoo stores actors only (no critics), so a critic-based estimator cannot be computed for it.
One Parquet file per track under ``rows/``; ``benchmarks/transferability.py`` fits and judges the scores.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from ray.rllib.core.columns import Columns

import fast_rllib  # noqa: F401  (task ids)
from fast_rllib import FASTConfig
from fast_rllib.atomic_write import write_atomically
from fast_rllib.build.scoring import similarity_services, target_stacks
from fast_rllib.repository import SourceRepository
from fast_rllib.tasks import get_task, make_task_env

TABLE = Path(__file__).parent / "results" / "transfer_table" / "table.parquet"
OUT = Path(__file__).parent / "results" / "transfer_scores"
# The env steps an untrained target drives before FAST's first decision (FASTConfig's default K).
OBSERVATION_STEPS = 200
CAPTURE_SEED = 0


def random_observations(track: str, steps: int, seed: int) -> np.ndarray:
    """The observations of ``steps`` env steps of uniform random driving of ``track`` (resets included)."""
    env = make_task_env(track)
    env.action_space.seed(seed)
    observation, _ = env.reset(seed=seed)
    observations = []
    for _ in range(steps):
        observations.append(observation)
        observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            observation, _ = env.reset()
    env.close()
    return np.asarray(observations, dtype=np.float32)


def mean_log_std(module, observations: np.ndarray) -> float:
    """The actor's mean log standard deviation over ``observations`` (SAC's squashed Gaussian: the second
    half of the distribution inputs)."""
    with torch.no_grad():
        inputs = module.forward_inference({Columns.OBS: torch.as_tensor(observations)})[Columns.ACTION_DIST_INPUTS]
    return float(inputs[:, inputs.shape[1] // 2:].mean())


def track_rows(track: str, repository: SourceRepository, services, modules: dict) -> pd.DataFrame:
    frames = target_stacks(track, "random", repository.frame_size, seed=CAPTURE_SEED)
    description = get_task(track).description
    scores = {modality: service.scores(frames, description) for modality, service in services.items()}
    observations = random_observations(track, OBSERVATION_STEPS, CAPTURE_SEED)
    return pd.DataFrame([
        {
            "track": track, "policy": name, "score_F": scores["F"][name], "score_FT": scores["FT"][name],
            "log_std": mean_log_std(module, observations),
        }
        for name, module in modules.items()
    ])


def row_path(track: str) -> Path:
    return OUT / "rows" / f"{track.replace('/', '_')}.parquet"


def build(tracks: list[str]) -> None:
    defaults = FASTConfig()
    repository = SourceRepository.load(defaults.resolved_repository_path)
    services = similarity_services(defaults.resolved_repository_path, defaults.similarity_metric, defaults.text_weight)
    modules = {entry.name: entry.load_module() for entry in repository}
    for number, track in enumerate(tracks, 1):
        if row_path(track).exists():
            continue
        write_atomically(row_path(track), track_rows(track, repository, services, modules).to_parquet)
        print(f"{number}/{len(tracks)} {track}", flush=True)


def rows() -> pd.DataFrame:
    """Every stored row beside the transfer table's zero-shot share of the lane follower and split."""
    features = pd.concat([pd.read_parquet(path) for path in sorted((OUT / "rows").glob("*.parquet"))], ignore_index=True)
    table = pd.read_parquet(TABLE)[["track", "split", "policy", "return_mean", "of_lane_follower"]]
    return features.merge(table, on=["track", "policy"], how="inner", validate="one_to_one")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if not args.report_only:
        build(sorted(pd.read_parquet(TABLE).track.unique()))
    joined = rows()
    write_atomically(OUT / "rows.parquet", joined.to_parquet)
    print(f"{joined.track.nunique()} tracks, {len(joined)} rows")


if __name__ == "__main__":
    main()
