"""FAST's live metrics reach the node's Prometheus export, the source of the Ray dashboard's Metrics view."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest
import ray
from tiny_repository import tiny_fast_config

from fast_rllib.repository import SourceRepository

pytestmark = pytest.mark.slow
EXPORT_WAIT_S = 90
FAST_METRICS = ("ray_fast_similarity_score", "ray_fast_following_source", "ray_fast_similarity_latency_ms")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def metrics_port():
    port = _free_port()
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, _metrics_export_port=port)
    yield port
    ray.shutdown()


def _exported_lines(port: int, names: tuple[str, ...], tag: str) -> list[str]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return [line for line in text.splitlines() if line.startswith(names) and tag in line]


def _wait_for(port: int, names: tuple[str, ...], tag: str = "") -> list[str]:
    """The exported lines of ``names`` that carry ``tag``, once each name has appeared (or what there is
    after EXPORT_WAIT_S)."""
    deadline, lines = time.monotonic() + EXPORT_WAIT_S, []
    while time.monotonic() < deadline:
        lines = _exported_lines(port, names, tag)
        if all(any(line.startswith(name) for line in lines) for name in names):
            break
        time.sleep(2)
    return lines


def test_fast_metrics_appear_in_the_prometheus_export_tagged_by_trial(repository, metrics_port) -> None:
    algo = tiny_fast_config(repository, similarity_service_name="fast_metrics_service").build_algo()
    try:
        algo.train()
        trial = algo.telemetry.trial
        lines = _wait_for(metrics_port, FAST_METRICS)
        for name in FAST_METRICS:
            assert any(line.startswith(name) and f'trial="{trial}"' in line for line in lines), (name, lines[:5])
        scores = [line for line in lines if line.startswith("ray_fast_similarity_score")]
        for source in ("racetrack-oval-v0", "highway-v0"):
            assert any(f'source="{source}"' in line for line in scores), scores
    finally:
        algo.stop()


SERVICE_METRICS = ("ray_fast_service_queue_length", "ray_fast_service_batch_size", "ray_fast_service_latency_ms")


def test_the_service_exports_queue_length_batch_size_and_latency(repository, metrics_port) -> None:
    """Concurrent queries to a service whose batch holds them all: one batch of 4, exported by name."""
    from fast_rllib.service import get_or_create_similarity_service

    settings = {"repository_path": str(repository)}
    handle = get_or_create_similarity_service("fast_metrics_batching", settings, max_batch_size=4, batch_wait_s=60.0)
    stacks = next(iter(SourceRepository.load(repository, check_modules=False))).frames[:2]
    ray.get([handle.scores.remote(stacks, client=f"trial-{index}") for index in range(4)], timeout=120)
    lines = _wait_for(metrics_port, SERVICE_METRICS, tag='service="fast_metrics_batching"')
    for name in SERVICE_METRICS:
        assert any(line.startswith(name) for line in lines), (name, lines[:5])
    # Histogram buckets count observations at or below their bound: the batch of 4 is in le=4, not in le=2.
    buckets = {line.split('le="')[1].split('"')[0]: float(line.split()[-1]) for line in lines if line.startswith("ray_fast_service_batch_size_bucket")}
    assert buckets["2.0"] == 0 and buckets["4.0"] == 1, buckets
    latency_count = [float(line.split()[-1]) for line in lines if line.startswith("ray_fast_service_latency_ms_count")]
    assert latency_count == [4.0], lines
