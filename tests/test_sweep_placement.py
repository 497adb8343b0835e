"""A Tune sweep on a simulated three-node cluster with a GPU node: the one similarity service sits on the
GPU node with its GPU share and custom resource, the trials on the other two nodes, and that one service
answers every decision of every trial.

``ray.cluster_utils.Cluster`` starts three raylets on this host. The GPU is declared, not real: Ray places
by declared resources, so the service's fractional GPU request lands it on that node, while its encoders
run on the CPU (torch sees no CUDA here; ``test_service.py`` has the test that runs where CUDA exists). The
GPU node offers no CPU, so nothing but the service can go there: a GPU node kept for the encoders, as on a
cluster where GPU time is dear.

The sweep runs in a subprocess (this file as a script), so that the cluster's Ray session never mixes with
the pytest process's own. Three raylets and two trials take over a minute on a 2-core machine, so the file
is ``extended`` (outside CI, like the offline tools): run ``pytest -m extended tests/test_sweep_placement.py``
when the service's placement or ``fast_rllib/fast/sweep_service.py`` changes. ``test_cluster.py`` keeps a
two-node cluster with a pinned service in CI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.extended]

TESTS = Path(__file__).resolve().parent
SWEEP_TIMEOUT_S = 420.0
# Small object stores: three nodes share the host (and /dev/shm) with other jobs.
OBJECT_STORE_BYTES = 100 * 1024 * 1024
RESULT_PREFIX = "SWEEP_RESULT "
GPU_NODE_RESOURCE = "accelerator"
SEEDS = [0, 1]
ITERATIONS = 3


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict[str, Any]:
    from tiny_repository import build_tiny_repository

    root = tmp_path_factory.mktemp("sweep")
    repository = build_tiny_repository(root / "repository")
    finished = subprocess.run(
        [sys.executable, __file__, str(repository), str(root / "results")],
        capture_output=True, text=True, timeout=SWEEP_TIMEOUT_S, cwd=TESTS.parent,
        env={**_environment(), "PYTHONPATH": str(TESTS)},
    )
    lines = [line for line in finished.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    assert finished.returncode == 0 and lines, (
        f"sweep exited with {finished.returncode}\nstdout:\n{finished.stdout[-3000:]}\nstderr:\n{finished.stderr[-5000:]}"
    )
    return json.loads(lines[-1][len(RESULT_PREFIX):])


def _environment() -> dict[str, str]:
    import os

    # The subprocess starts its own cluster: it must not join one named by the caller's environment.
    return {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}


def test_the_service_is_placed_on_the_gpu_node_with_its_gpu_share(report) -> None:
    assert len(report["nodes"]) == 3
    assert report["service"]["node_id"] == report["gpu_node"]
    resources = report["service"]["resources"]
    assert resources.get("GPU") == 0.25 and resources.get(GPU_NODE_RESOURCE) == 1.0
    # A declared GPU without CUDA: placed by it, encoding on the CPU.
    assert report["service"]["device"] == "cpu"


def test_every_trial_runs_off_the_gpu_node(report) -> None:
    trials = report["trials"]
    assert len(trials) == len(SEEDS)
    for trial in trials:
        placed = {trial["algorithm_node"], *trial["runner_nodes"]}
        assert report["gpu_node"] not in placed and placed <= set(report["nodes"])


def test_one_service_answered_every_decision_of_every_trial(report) -> None:
    """The service's per-trial counts are exactly the trials' decisions: no trial started a service of its
    own, none fell back to the target for want of an answer."""
    counts = report["service_stats"]["client_requests"]
    assert counts == {trial["client"]: trial["decisions"] for trial in report["trials"]}
    for trial in report["trials"]:
        assert trial["decisions"] >= ITERATIONS and trial["service_failures"] == 0


# The sweep, run in its own process by the `report` fixture -------------------------------------------


def record_placement(*, algorithm: Any, result: dict, **kwargs: Any) -> None:
    """An ``on_train_result`` callback: where this trial's Algorithm and EnvRunners run, and its client id."""
    import ray

    result["placement"] = {
        "client": algorithm.similarity.client_id,
        "algorithm_node": ray.get_runtime_context().get_node_id(),
        "runner_nodes": algorithm.env_runner_group.foreach_env_runner(
            lambda runner: ray.get_runtime_context().get_node_id(), local_env_runner=False
        ),
    }


def sweep(repository: Path, storage: Path) -> dict[str, Any]:
    """Two trials (two seeds) of the tiny FAST config on a head and a worker node (2 CPUs each), its
    service asking for the GPU node's custom resource (and, by default, a GPU share)."""
    import ray
    import torch
    from ray import tune
    from ray.cluster_utils import Cluster
    from tiny_repository import tiny_fast_config

    from fast_rllib.commands.rllib_cli import run_tuned_example
    from fast_rllib.fast.sweep_service import start_sweep_service

    torch.set_num_threads(1)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "object_store_memory": OBJECT_STORE_BYTES})
    cluster.add_node(num_cpus=2, object_store_memory=OBJECT_STORE_BYTES)
    cluster.add_node(num_cpus=0, num_gpus=1, resources={GPU_NODE_RESOURCE: 1}, object_store_memory=OBJECT_STORE_BYTES)
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        config = (
            tiny_fast_config(
                repository,
                similarity_service_name="fast_sweep_service",
                similarity_service_resources={GPU_NODE_RESOURCE: 1},
            )
            .debugging(seed=tune.grid_search(SEEDS))
            .callbacks(on_train_result=record_placement)
        )
        # The handle run_tuned_example keeps is dropped when it returns: this one outlives the sweep, for stats.
        service = start_sweep_service(config)
        results = run_tuned_example(
            config, {"training_iteration": ITERATIONS}, storage_path=str(storage), checkpoint_at_end=False
        )
        trials = [
            {
                **result.metrics["placement"],
                "decisions": result.metrics["fast"]["decisions"],
                "service_failures": result.metrics["fast"].get("service_failures", 0),
            }
            for result in results
        ]
        return {
            "nodes": [node["NodeID"] for node in ray.nodes() if node["Alive"]],
            "gpu_node": next(node["NodeID"] for node in ray.nodes() if GPU_NODE_RESOURCE in node["Resources"]),
            "service": ray.get(service.info.remote(), timeout=60),
            "service_stats": ray.get(service.stats.remote(), timeout=60),
            "trials": trials,
        }
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    print(RESULT_PREFIX + json.dumps(sweep(Path(sys.argv[1]), Path(sys.argv[2])), default=str), flush=True)
