"""Similarity of every racing target to every source, for each metric and modality: does it separate?

FAST can only help if, seen from a racing target, racing sources score above non-racing ones (a highway
policy knows nothing about bends). For each metric x modality this prints a markdown score table, saves a
PNG heatmap, and summarises for how many racing targets every racing source beats every non-racing
source, with the margin (lowest racing score minus highest non-racing score; > 0 means separated).

Targets are every racing catalogue task, held-out ones included, captured with the lane follower over
three episodes (a stack every 10 steps). Each is scored three ways: all its stacks in one query (the
task as a whole: the bar), windows of a few stacks drawn from them (FAST's query at run time: its latest
``similarity_target_stacks`` stacks, one per decision), and each stack alone (the paper's query).

Usage:
  python benchmarks/similarity_matrix.py --repository PATH [--out benchmarks/results/similarity]
  python benchmarks/similarity_matrix.py --catalogue-sources        # before a trained repository exists
All scores go to <out>/scores.parquet, the summary to <out>/summary.json, heatmaps to <out>/*.png.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fast_rllib import FASTConfig
from fast_rllib.fast.config import PAPER_THRESHOLD
from fast_rllib.atomic_write import write_atomically, write_json_atomically
from fast_rllib.embedding.autoencoder import FrameAutoencoder
from fast_rllib.build.catalogue_training import catalogue_source_tasks
from fast_rllib.build.quality import TARGET_STACKS, TARGET_STRIDE, racing_target_stacks, separation_margin, window_draws
from fast_rllib.embedding.similarity import DEFAULT_METRIC, METRIC_RANGES, METRICS
from fast_rllib.embedding.task_embedding import (
    DEFAULT_TEXT_WEIGHT,
    MODALITIES,
    SimilarityIndex,
    SourceTask,
    TaskEmbedder,
)
from fast_rllib.embedding.text import DEFAULT_POOLING, POOLINGS, TextEncoder
from fast_rllib.build.recording import DEFAULT_KEPT_EPISODES, DEFAULT_STACKS_PER_EPISODE
from fast_rllib.service import shipped_autoencoder_dir
from fast_rllib.tasks import HELD_OUT_TARGETS, TASKS, task_ids
from fast_rllib.tasks.rendering import save_figure

DEFAULT_OUT = Path(__file__).parent / "results" / "similarity"
QUERIES = ("task", "window", "stack")  # all of a target's stacks, a window of them, one stack


@dataclass(frozen=True)
class Source:
    task: SourceTask
    kind: str  # "racing", "driving", or "unknown" when a repository entry names no catalogue task
    task_id: str  # the catalogue task it was trained on (a repository entry's name need not be its id)


def short(task_id: str) -> str:
    return task_id.removeprefix("fast/").removesuffix("-v0")


def repository_sources(path: Path) -> list[Source]:
    from fast_rllib.repository import SourceRepository

    repository = SourceRepository.load(str(path), check_modules=False)
    entries = getattr(repository, "entries", repository)
    entries = entries.values() if hasattr(entries, "values") else entries
    sources = []
    for entry in entries:
        task_id = getattr(entry, "task_id", entry.name)
        kind = TASKS[task_id].kind if task_id in TASKS else "unknown"
        sources.append(Source(SourceTask(entry.name, np.asarray(entry.frames), entry.description), kind, task_id))
    return sources


def catalogue_sources(frame_size: int, stacks: int) -> list[Source]:
    ids = task_ids(held_out=False)
    return [Source(task, TASKS[task.name].kind, task.name) for task in catalogue_source_tasks(ids, frame_size, stacks, seed=0)]


def score_rows(index: SimilarityIndex, embedded: dict[str, np.ndarray], metric: str, modality: str,
               kinds: dict[str, str], task_of: dict[str, str], window: int, windows: int) -> list[dict]:
    rows = []
    for target, target_rows in embedded.items():
        queries = [("task", 0, target_rows)]
        queries += [("window", i, target_rows[draw]) for i, draw in enumerate(window_draws(len(target_rows), window, windows))]
        queries += [("stack", i, target_rows[i : i + 1]) for i in range(len(target_rows))]
        for query, query_index, query_rows in queries:
            for source, score in index.scores_from_rows(query_rows).items():
                rows.append({"metric": metric, "modality": modality, "target": target, "held_out": target in HELD_OUT_TARGETS,
                             "query": query, "query_index": query_index, "source": source, "source_task": task_of[source],
                             "source_kind": kinds[source], "score": score})
    return rows


def separation(scores: pd.DataFrame) -> pd.DataFrame:
    """Per query: lowest racing-source score minus highest non-racing-source score, the top source, and the
    best score of each kind (to see which queries reach a threshold)."""
    def one(group: pd.DataFrame) -> pd.Series:
        best = group.loc[group.score.idxmax()]
        margin = separation_margin(dict(zip(group.source, group.score)), dict(zip(group.source, group.source_kind)))
        racing = group.source_kind == "racing"
        return pd.Series({"margin": margin, "top_source": best.source, "top_task": best.source_task,
                          "top_is_racing": best.source_kind == "racing", "best_racing": group.score[racing].max(),
                          "best_other": group.score[~racing].max()})

    keys = ["metric", "modality", "target", "query", "query_index"]
    return scores.groupby(keys, sort=False)[["source", "source_task", "source_kind", "score"]].apply(one).reset_index()


def summarise(per_query: pd.DataFrame, source_tasks: list[str], threshold: float) -> list[dict]:
    """Per metric x modality: how many whole targets are separated, and what share of windows and single
    stacks are; for the default metric also how often the best source of each kind reaches Θ."""
    summary = []
    for (metric, modality), group in per_query.groupby(["metric", "modality"], sort=False):
        low, high = METRIC_RANGES[metric]
        whole, window, single = (group[group["query"] == query] for query in QUERIES)
        # Targets that are also sources: does the query find the very task it came from?
        own = whole[whole.target.isin(source_tasks)]
        row = {
            "metric": metric, "modality": modality,
            "targets_separated": int((whole.margin > 0).sum()) if whole.margin.notna().any() else None,
            "targets": int(len(whole)),
            "own_task_top1": f"{int((own.top_task == own.target).sum())}/{len(own)}",
            "min_margin": float(whole.margin.min()), "median_margin": float(whole.margin.median()),
            "min_margin_over_range": float(whole.margin.min() / (high - low)),
            "top1_racing": int(whole.top_is_racing.sum()),
        }
        for name, queries in (("window", window), ("single_stack", single)):
            row[f"{name}_separated"] = float((queries.margin > 0).mean()) if queries.margin.notna().any() else None
            row[f"{name}_top1_racing"] = float(queries.top_is_racing.mean())
            if metric == DEFAULT_METRIC:
                row[f"{name}_best_racing_reaches_threshold"] = float((queries.best_racing >= threshold).mean())
                row[f"{name}_best_other_reaches_threshold"] = float((queries.best_other >= threshold).mean())
        summary.append(row)
    return summary


def score_table(scores: pd.DataFrame, source_order: list[str]) -> pd.DataFrame:
    """Targets x sources for the all-stacks queries; targets in source order (so that a target that is
    also a source sits on the diagonal), held-out targets last."""
    table = scores[scores["query"] == "task"].pivot(index="target", columns="source", values="score")
    targets = sorted(table.index, key=lambda t: (t in HELD_OUT_TARGETS, source_order.index(t) if t in source_order else 0, t))
    return table.reindex(index=targets, columns=source_order)


def markdown_table(scores: pd.DataFrame, source_order: list[str]) -> str:
    table = score_table(scores, source_order)
    header = "| target | " + " | ".join(short(s) for s in source_order) + " |"
    lines = [header, "|" + "---|" * (len(source_order) + 1)]
    for target, row in table.iterrows():
        name = short(target) + (" (held out)" if target in HELD_OUT_TARGETS else "")
        lines.append(f"| {name} | " + " | ".join(f"{value:.3f}" for value in row) + " |")
    return "\n".join(lines)


def save_heatmap(scores: pd.DataFrame, source_order: list[str], kinds: dict[str, str], metric: str,
                 modality: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = score_table(scores, source_order)
    low, high = METRIC_RANGES[metric]
    figure, axis = plt.subplots(figsize=(1.0 + 0.75 * len(source_order), 1.2 + 0.45 * len(table)))
    vmin, vmax = float(table.min().min()), float(table.max().max())
    image = axis.imshow(table.to_numpy(), cmap="viridis", vmin=vmin, vmax=vmax)
    axis.set_xticks(range(len(source_order)), [f"{short(s)}{'' if kinds[s] == 'racing' else ' *'}" for s in source_order],
                    rotation=60, ha="right", fontsize=8)
    axis.set_yticks(range(len(table)), [short(t) + (" (held out)" if t in HELD_OUT_TARGETS else "") for t in table.index], fontsize=8)
    for (row, column), value in np.ndenumerate(table.to_numpy()):
        bright = value > vmin + 0.6 * (vmax - vmin)
        axis.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=6, color="black" if bright else "white")
    axis.set_title(f"{metric}, {modality} (range [{low}, {high}]; * = non-racing source)", fontsize=9)
    figure.colorbar(image, ax=axis, fraction=0.03)
    save_figure(figure, path, dpi=110)


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    write_atomically(path, lambda temporary: frame.to_parquet(temporary, index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    origin = parser.add_mutually_exclusive_group(required=True)
    origin.add_argument("--repository", type=Path)
    origin.add_argument("--catalogue-sources", action="store_true",
                        help="every non-held-out catalogue task as a source, frames from the lane follower")
    parser.add_argument("--autoencoder", type=Path, default=None, help="default: <repository>/autoencoder, else the shipped one")
    parser.add_argument("--source-stacks", type=int, default=DEFAULT_KEPT_EPISODES * DEFAULT_STACKS_PER_EPISODE,
                        help="stacks per catalogue source (default: as many as a repository entry keeps; the paper keeps 10)")
    parser.add_argument("--target-stacks", type=int, default=TARGET_STACKS)
    parser.add_argument("--stride", type=int, default=TARGET_STRIDE, help="env steps between a target's stacks")
    parser.add_argument("--window", type=int, default=None,
                        help="stacks per window query (default: FAST's similarity_target_stacks)")
    parser.add_argument("--windows", type=int, default=20, help="window queries drawn per target")
    parser.add_argument("--text-weight", type=float, default=DEFAULT_TEXT_WEIGHT, help="weight of each text feature")
    parser.add_argument("--pooling", default=DEFAULT_POOLING, choices=POOLINGS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    defaults = FASTConfig()
    window = args.window or defaults.similarity_target_stacks

    started = time.perf_counter()
    autoencoder_dir = args.autoencoder or (args.repository / "autoencoder" if args.repository else shipped_autoencoder_dir())
    autoencoder = FrameAutoencoder.load(autoencoder_dir)
    frame_size = autoencoder.config.frame_size
    sources = repository_sources(args.repository) if args.repository else catalogue_sources(frame_size, args.source_stacks)
    kinds = {source.task.name: source.kind for source in sources}
    task_of = {source.task.name: source.task_id for source in sources}
    source_order = sorted(kinds, key=lambda name: (kinds[name] != "racing", name))
    targets = racing_target_stacks(frame_size, args.target_stacks, args.stride)
    print(f"{len(sources)} sources, {len(targets)} racing targets x {args.target_stacks} stacks at {frame_size} px "
          f"({time.perf_counter() - started:.0f} s to capture); autoencoder {autoencoder_dir}")

    text_encoder = TextEncoder(pooling=args.pooling)
    all_scores = []
    for modality in MODALITIES:
        embedder = TaskEmbedder(autoencoder, text_encoder if modality == "FT" else None, modality, args.text_weight)
        index = SimilarityIndex([source.task for source in sources], embedder, "minmax_cosine")
        embedded = {target: embedder.rows(stacks, TASKS[target].description) for target, stacks in targets.items()}
        for metric in METRICS:
            scores = pd.DataFrame(score_rows(index.with_metric(metric), embedded, metric, modality, kinds, task_of,
                                             window, args.windows))
            all_scores.append(scores)
            print(f"\n### {metric}, {modality}\n\n{markdown_table(scores, source_order)}")
            save_heatmap(scores, source_order, kinds, metric, modality, args.out / f"heatmap_{metric}_{modality}.png")

    scores = pd.concat(all_scores, ignore_index=True)
    summary = summarise(separation(scores), list(task_of.values()), PAPER_THRESHOLD)
    print(f"\n| metric | modality | targets separated | min margin | median margin | min margin / range | top-1 racing | "
          f"top-1 is own task | {window}-stack windows separated | window top-1 racing | single stacks separated | "
          f"single-stack top-1 racing |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in summary:
        separated = "n/a" if row["targets_separated"] is None else f"{row['targets_separated']}/{row['targets']}"
        shares = " | ".join("n/a" if row[key] is None else f"{row[key]:.0%}" for key in (
            "window_separated", "window_top1_racing", "single_stack_separated", "single_stack_top1_racing"))
        print(f"| {row['metric']} | {row['modality']} | {separated} | "
              f"{row['min_margin']:+.3f} | {row['median_margin']:+.3f} | {row['min_margin_over_range']:+.3f} | "
              f"{row['top1_racing']}/{row['targets']} | {row['own_task_top1']} | {shares} |")
    for row in (row for row in summary if row["metric"] == DEFAULT_METRIC):
        print(f"{row['metric']}, {row['modality']}, Θ = {PAPER_THRESHOLD}: the best racing source reaches it "
              f"for {row['window_best_racing_reaches_threshold']:.0%} of windows and "
              f"{row['single_stack_best_racing_reaches_threshold']:.0%} of single stacks, the best non-racing source for "
              f"{row['window_best_other_reaches_threshold']:.0%} and {row['single_stack_best_other_reaches_threshold']:.0%}")
    write_parquet(scores, args.out / "scores.parquet")
    write_json_atomically(args.out / "summary.json", {
        "sources": "repository " + str(args.repository) if args.repository else "catalogue (lane follower)",
        "source_kinds": kinds, "held_out_targets": list(HELD_OUT_TARGETS), "frame_size": frame_size,
        "autoencoder_dir": str(autoencoder_dir), "target_stacks": args.target_stacks, "stride": args.stride,
        "window": window, "windows": args.windows, "threshold": PAPER_THRESHOLD,
        "text_weight": args.text_weight, "pooling": args.pooling, "summary": summary,
    })
    print(f"\nwrote {args.out}/scores.parquet, summary.json and {len(all_scores)} heatmaps "
          f"in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
