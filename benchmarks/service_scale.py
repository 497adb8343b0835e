"""One similarity service under a sweep's load: round trips, throughput and batch sizes as clients multiply.

Usage (the full run needs an otherwise idle machine; a few minutes per repository size, more for 1,000):
    python benchmarks/service_scale.py [--clients 1 8 32 64 128] [--saturated-clients 128]
        [--modalities F FT] [--sizes 8 100 1000] [--batching on off] [--duration-s 30] [--device auto]
        [--out benchmarks/results/service_scale]
Smallest setting (a check that it runs):
    python benchmarks/service_scale.py --clients 1 --saturated-clients --sizes 8 --modalities F --batching on --duration-s 5

Each client stands for a FAST trial at K = 100: it sends a real 8-stack window of the held-out Indiana
oval (lane follower's frames), waits for the answer as a trial does, and sends the next one K env steps
later at ``--env-steps-per-s`` (default: FAST's rate in ``benchmarks/results/throughput.json``); a late
answer makes the next query go at once. That pace asks less of the service than it can give, so
``--saturated-clients`` also runs clients that send again as soon as they are answered: the service's
capacity, and the throughput ratio of batching on to off. Clients are asyncio tasks of this driver awaiting the actor's
``scores`` (the service cannot tell them from trials in other processes). ``--batching off`` starts the
service with ``max_batch_size=1``, one encoder pass per query, for the ratio to the batched service.
``--device cuda`` asks the service for its GPU share (and stops at once on a cluster without a GPU),
``cpu`` for none, ``auto`` (default) for what FAST does: a GPU share when the cluster has a GPU. The device
the encoders ran on is a column of the results.

Repositories beyond the zoo's 8 entries are the zoo's entries copied under new names with the
repository's own writer (``write_entry``), kept in ``--work-dir`` for the next run; the service embeds each
copy like any entry, so a query compares with ``size`` sources. Writes ``rows.parquet`` (one row per
query, kept as each service's measurement ends), ``drivers.parquet`` (the driver's load cost per size),
``summary.parquet`` (per setting: p50/p99 round trip, throughput, mean batch size, the service's
CPU (cores busy) and peak memory, the ratios of batching off to on), ``repository_size.parquet`` (per
repository size: a lone trial's decision latency, the service's set-up time and memory, and what FAST's
driver spends loading the repository, in a fresh process) and ``service_scale.png``; ``--report-only``
rebuilds the last three from the first two.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import ray

from fast_rllib.atomic_write import write_atomically
from fast_rllib.checkout_paths import checkout_relative
from fast_rllib.repository import DEFAULT_REPOSITORY, SourceRepository
from fast_rllib.repository.layout import CHECKSUM_KEY
from fast_rllib.repository.writing import write_entry
from fast_rllib.service import (
    DEFAULT_BATCH_WAIT_S,
    DEFAULT_GPU_FRACTION,
    DEFAULT_MAX_BATCH_SIZE,
    get_or_create_similarity_service,
    shipped_autoencoder_dir,
)
from fast_rllib.tasks import get_task
from fast_rllib.tasks.rendering import save_figure

RESULTS = Path(__file__).parent / "results"
TARGET = "fast/indiana-v0"
WINDOW = 8
WINDOWS = 16
INTERVAL = 100
# The service's GPU request per --device (None: FAST's own choice, a share when the cluster has a GPU).
GPU_REQUEST = {"auto": None, "cpu": 0.0, "cuda": DEFAULT_GPU_FRACTION}
# Facts of an entry that write_entry records itself (a copy gets its own).
WRITER_KEYS = ("name", "versions", "created_at", "module_format", CHECKSUM_KEY)


def fast_env_steps_per_s() -> float:
    """FAST's measured sampling rate (benchmarks/throughput.py), the pace at which a trial reaches K."""
    return float(json.loads((RESULTS / "throughput.json").read_text())["fast"]["env_steps_per_s"])


def grown_repository(size: int, work_dir: Path) -> Path:
    """The zoo with its entries copied under new names up to ``size`` entries (the zoo itself at its size)."""
    zoo = SourceRepository.load(DEFAULT_REPOSITORY, check_modules=False)
    if size == len(zoo):
        return Path(DEFAULT_REPOSITORY)
    root = work_dir / f"zoo_x{size}"
    have = set(SourceRepository.load(root, check_modules=False).names) if (root / "index.json").exists() else set()
    entries = list(zoo)
    for index in range(size):
        entry = entries[index % len(entries)]
        name = f"{entry.name}-copy{index // len(entries)}"
        if name not in have:
            info = {key: value for key, value in entry.info.items() if key not in WRITER_KEYS}
            write_entry(root, name, module=entry.load_module(), frames=entry.frames,
                        episode_returns=entry.episode_returns, info=info)
    return root


def driver_cost(repository: Path) -> dict[str, float]:
    """What FAST's driver pays for a repository of this size: seconds and resident memory (Linux's
    /proc) to load every entry with its module built (what the algorithm does before it can broadcast a
    source), measured in a fresh process so that nothing loaded before counts."""
    script = (
        "import json, os, sys, time\n"
        "from fast_rllib.repository import SourceRepository\n"
        "def resident_mib():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20\n"
        "before = resident_mib()\n"
        "start = time.perf_counter()\n"
        "repository = SourceRepository.load(sys.argv[1])\n"
        "seconds = time.perf_counter() - start\n"
        "print(json.dumps({'driver_load_s': seconds, 'driver_rss_growth_mib': resident_mib() - before}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(repository)], check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def target_windows() -> list[np.ndarray]:
    """WINDOWS real 8-stack windows of the target, as FAST scores them."""
    from fast_rllib.build.frame_collection import collect_frame_stacks
    from fast_rllib.tasks.controller import LaneFollowingController

    stacks = collect_frame_stacks(TARGET, WINDOW * WINDOWS, 96, LaneFollowingController(), seed=11)
    return list(stacks.reshape(WINDOWS, WINDOW, *stacks.shape[1:]))


async def run_clients(handle, clients: int, windows: list[np.ndarray], description: str, period_s: float, duration_s: float) -> list[dict]:
    """``clients`` trials querying every ``period_s`` for ``duration_s``; one row per answered query."""
    rows: list[dict] = []
    start = time.perf_counter()

    async def client(index: int) -> None:
        window, name = windows[index % len(windows)], f"client-{index}"
        # Spread the first queries over one period, as trials that started at different times would be.
        next_send = start + period_s * index / clients
        while next_send < start + duration_s:
            await asyncio.sleep(max(0.0, next_send - time.perf_counter()))
            sent = time.perf_counter()
            await handle.scores.remote(window, description, client=name)
            rows.append({"client": index, "sent_s": sent - start, "round_trip_ms": (time.perf_counter() - sent) * 1000})
            next_send = max(next_send + period_s, time.perf_counter())

    await asyncio.gather(*(client(index) for index in range(clients)))
    return rows


def measure(size: int, repository: Path, modality: str, batching: str, args, windows) -> pd.DataFrame:
    """Every load against one service (started once: embedding 1,000 entries takes a while): each paced
    client count, then each saturated one."""
    settings = {"repository_path": str(repository), "autoencoder_dir": str(shipped_autoencoder_dir()), "modality": modality}
    name = f"service-scale-{size}-{modality}-{batching}"
    started = time.perf_counter()
    handle = get_or_create_similarity_service(
        name, settings, num_cpus=0, num_gpus=GPU_REQUEST[args.device],
        max_batch_size=DEFAULT_MAX_BATCH_SIZE if batching == "on" else 1, batch_wait_s=DEFAULT_BATCH_WAIT_S,
    )
    device = ray.get(handle.info.remote(), timeout=600)["device"]
    description = get_task(TARGET).description
    frames = []
    try:
        ray.get(handle.scores.remote(windows[0], description), timeout=600)  # warm-up
        setup_s = time.perf_counter() - started
        loads = [("paced", clients, args.period_s) for clients in sorted(args.clients)]
        loads += [("saturated", clients, 0.0) for clients in sorted(args.saturated_clients)]
        for load, clients, period_s in loads:
            before, began = ray.get(handle.stats.remote()), time.perf_counter()
            rows = asyncio.run(run_clients(handle, clients, windows, description, period_s, args.duration_s))
            after, elapsed = ray.get(handle.stats.remote()), time.perf_counter() - began
            requests = sum(after["client_requests"].values()) - sum(before["client_requests"].values())
            frame = pd.DataFrame(rows).assign(
                sources=size, modality=modality, batching=batching, load=load, clients=clients, device=device,
                mean_batch=requests / max(after["batches"] - before["batches"], 1),
                service_cpu_cores=(after["cpu_s"] - before["cpu_s"]) / elapsed,
                service_peak_rss_mib=after["peak_rss_mib"], service_setup_s=setup_s,
            )
            frames.append(frame)
            print(f"{size} sources on {device}, {modality}, batching {batching}, {clients} {load} clients: "
                  f"p50 {frame.round_trip_ms.median():.0f} ms, p99 {frame.round_trip_ms.quantile(0.99):.0f} ms, "
                  f"mean batch {frame.mean_batch.iloc[0]:.1f}", flush=True)
    finally:
        ray.kill(handle)
    return pd.concat(frames, ignore_index=True)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Per setting: round trips, and answered queries per second from the first query sent to the last
    answer (saturated clients keep a query each in flight past the sending window, so dividing by the
    window alone would count those as capacity)."""
    keys = ["sources", "modality", "batching", "load", "clients", "device"]
    rows = rows.assign(answered_s=rows.sent_s + rows.round_trip_ms / 1000)
    summary = rows.groupby(keys).agg(
        queries=("round_trip_ms", "size"), p50_ms=("round_trip_ms", "median"),
        p99_ms=("round_trip_ms", lambda values: values.quantile(0.99)), span_s=("answered_s", "max"),
        mean_batch=("mean_batch", "first"), service_cpu_cores=("service_cpu_cores", "first"),
        service_peak_rss_mib=("service_peak_rss_mib", "first"), service_setup_s=("service_setup_s", "first"),
    ).reset_index()
    summary["queries_per_s"] = summary.queries / summary.span_s
    setting = ["sources", "modality", "load", "clients"]
    on = summary[summary.batching == "on"].set_index(setting)
    off = summary[summary.batching == "off"].set_index(setting)
    ratios = pd.DataFrame({
        "p99_off_over_on": off.p99_ms / on.p99_ms, "throughput_on_over_off": on.queries_per_s / off.queries_per_s,
    }).reset_index()
    return summary.merge(ratios, on=setting, how="left")


def repository_growth(summary: pd.DataFrame, drivers: pd.DataFrame) -> pd.DataFrame:
    """Per repository size and modality, with batching on: a lone trial's decision latency (the fewest
    clients measured), the service's set-up time and peak memory, and FAST's driver's load cost."""
    batched = summary[(summary.batching == "on") & (summary.load == "paced")]
    lone = batched[batched.clients == batched.clients.min()]
    columns = ["sources", "modality", "clients", "p50_ms", "p99_ms", "service_setup_s", "service_peak_rss_mib"]
    return lone[columns].rename(columns={"clients": "lone_clients"}).merge(drivers, on="sources")


def plot(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    paced = summary[summary.load == "paced"]
    for index, ((sources, modality, batching), group) in enumerate(paced.groupby(["sources", "modality", "batching"])):
        label = f"{sources} sources, {modality}, batching {batching}"
        style = "-" if batching == "on" else "--"
        axes[0].plot(group.clients, group.p99_ms, style, marker="o", color=f"C{index // 2}", label=label)
        axes[1].plot(group.clients, group.queries_per_s, style, marker="o", color=f"C{index // 2}", label=label)
    axes[0].set(xscale="log", yscale="log", xlabel="concurrent clients (trials at K = 100)", ylabel="p99 round trip (ms)")
    axes[1].set(xscale="log", xlabel="concurrent clients", ylabel="answered queries / s")
    axes[0].legend(fontsize=7)
    for axis in axes:
        axis.grid(alpha=0.3)
    save_figure(figure, path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32, 64, 128], help="paced clients (trials at K)")
    parser.add_argument(
        "--saturated-clients", type=int, nargs="*", default=[128],
        help="clients that send their next query as soon as the last is answered: the service's capacity",
    )
    parser.add_argument("--modalities", nargs="+", default=["F", "FT"], choices=["F", "FT"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 100, 1000], help="repository entries")
    parser.add_argument("--batching", nargs="+", default=["on", "off"], choices=["on", "off"])
    parser.add_argument("--duration-s", type=float, default=30.0, help="per client count")
    parser.add_argument("--device", default="auto", choices=sorted(GPU_REQUEST), help="where the service's encoders run")
    parser.add_argument("--env-steps-per-s", type=float, default=None, help="a trial's sampling rate (default: throughput.json's FAST)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/fast_service_scale"), help="grown repositories")
    parser.add_argument("--out", type=Path, default=RESULTS / "service_scale")
    parser.add_argument("--report-only", action="store_true", help="rebuild the summaries and plot from the stored rows")
    args = parser.parse_args()
    if args.report_only:
        report(args.out)
        return
    if min(args.clients + args.saturated_clients) < 1 or min(args.sizes) < 1 or args.duration_s <= 0:
        raise SystemExit("service_scale: client counts and --sizes must be >= 1 and --duration-s > 0")
    args.period_s = INTERVAL / (args.env_steps_per_s or fast_env_steps_per_s())
    args.out.mkdir(parents=True, exist_ok=True)
    ray.init(include_dashboard=False, log_to_driver=False)
    if args.device == "cuda" and not ray.cluster_resources().get("GPU"):
        raise SystemExit("service_scale: --device cuda, but this Ray cluster has no GPU")
    windows = target_windows()
    frames, drivers = [], []
    for size in args.sizes:
        repository = grown_repository(size, args.work_dir)
        drivers.append({"sources": size, **driver_cost(repository)})
        print(f"{size} sources: FAST's driver loads them in {drivers[-1]['driver_load_s']:.1f} s, "
              f"+{drivers[-1]['driver_rss_growth_mib']:.0f} MiB", flush=True)
        write_atomically(args.out / "drivers.parquet", pd.DataFrame(drivers).to_parquet)
        for modality in args.modalities:
            for batching in args.batching:
                frames.append(measure(size, repository, modality, batching, args, windows))
                # Kept as it goes: a run stopped part-way leaves every service it finished measuring.
                write_atomically(args.out / "rows.parquet", pd.concat(frames, ignore_index=True).to_parquet)
    ray.shutdown()
    report(args.out)


def report(out: Path) -> None:
    """summary.parquet, repository_size.parquet and the plot, from the stored rows and driver costs."""
    summary = summarise(pd.read_parquet(out / "rows.parquet"))
    growth = repository_growth(summary, pd.read_parquet(out / "drivers.parquet"))
    write_atomically(out / "summary.parquet", summary.to_parquet)
    write_atomically(out / "repository_size.parquet", growth.to_parquet)
    plot(summary, out / "service_scale.png")
    print(summary.to_string(index=False))
    print(growth.to_string(index=False))
    print(f"wrote {checkout_relative(out)}")


if __name__ == "__main__":
    main()
