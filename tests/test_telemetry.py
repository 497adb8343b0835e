"""FAST's live metrics reach the node's Prometheus export, the source of the Ray dashboard's Metrics view."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest
import ray
from tiny_repository import tiny_fast_config

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


def _exported_fast_lines(port: int) -> list[str]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return [line for line in text.splitlines() if line.startswith(FAST_METRICS)]


def test_fast_metrics_appear_in_the_prometheus_export_tagged_by_trial(repository, metrics_port) -> None:
    algo = tiny_fast_config(repository, similarity_service_name="fast_metrics_service").build_algo()
    try:
        algo.train()
        trial = algo.telemetry.trial
        deadline, lines = time.monotonic() + EXPORT_WAIT_S, []
        while time.monotonic() < deadline:
            lines = _exported_fast_lines(metrics_port)
            if all(any(line.startswith(name) for line in lines) for name in FAST_METRICS):
                break
            time.sleep(2)
        for name in FAST_METRICS:
            assert any(line.startswith(name) and f'trial="{trial}"' in line for line in lines), (name, lines[:5])
        scores = [line for line in lines if line.startswith("ray_fast_similarity_score")]
        for source in ("racetrack-oval-v0", "highway-v0"):
            assert any(f'source="{source}"' in line for line in scores), scores
    finally:
        algo.stop()
