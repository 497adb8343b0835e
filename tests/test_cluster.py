"""FAST on a real two-node Ray cluster, both nodes on this host, started with the venv's ``ray start``.

The cluster is addressed as 127.0.0.1; Ray itself replaces a loopback node address by the host's
reachable IP, so both nodes register under that one address, and all traffic stays on this host.

Shows what a multi-machine deployment relies on: the remote EnvRunner is placed by a custom resource on
the worker node, the similarity service by another on the head node, and FAST still trains and decides
across nodes (source weights and frame stacks travel through Ray's object store).

Isolation from the other Ray sessions on this machine (other jobs run their own ``ray.init()`` clusters):

- the nodes use their own ``--temp-dir``, ports and authentication token (Ray 2.60 turns on token auth
  for ``ray start --head``; every process of a cluster needs the same token), passed to them, and to the
  driver, through the environment only;
- the FAST driver runs in a subprocess (this file, run as a script), so the token settings never leak
  into the pytest process, whose other modules start their own local clusters;
- teardown never calls ``ray stop``, which kills every Ray process on the host: it terminates the
  process groups of the ``ray start --block`` commands it launched, then whatever is left of their
  descendants.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
import ray

import psutil  # noqa: E402  (vendored by Ray: importable once ray has put its thirdparty_files on sys.path)

pytestmark = pytest.mark.slow

RAY = Path(sys.executable).parent / "ray"
TESTS = Path(__file__).resolve().parent
LOOPBACK = "127.0.0.1"
NODE_START_TIMEOUT_S = 60.0
DRIVER_TIMEOUT_S = 240.0
STOP_GRACE_S = 5.0
# Small object stores: the nodes share the host (and /dev/shm) with other jobs.
OBJECT_STORE_BYTES = 150 * 1024 * 1024
RESULT_PREFIX = "CLUSTER_RESULT "


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


@dataclass
class LocalCluster:
    """The ``ray start --block`` processes of one test cluster, the environment its processes share
    (authentication), and where the ``ray start`` output goes."""

    address: str
    temp_dir: Path
    log_dir: Path
    env: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @classmethod
    def create(cls, log_dir: Path) -> "LocalCluster":
        # A short temp dir: Unix socket paths under it are limited to 107 bytes.
        temp_dir = Path(tempfile.mkdtemp(prefix="fastray-", dir="/tmp"))
        token_path = temp_dir / "auth_token"
        token_path.write_text(secrets.token_hex(32))
        token_path.chmod(0o600)
        env = {key: value for key, value in os.environ.items() if key not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_path))
        return cls(address=f"{LOOPBACK}:{free_port()}", temp_dir=temp_dir, log_dir=log_dir, env=env)

    def start_node(self, name: str, arguments: list[str]) -> None:
        """Start one node in its own process group, so that stopping it cannot reach other Ray sessions."""
        log = self.log_dir / f"ray-start-{name}.log"
        command = [
            str(RAY), "start", "--block", "--disable-usage-stats",
            "--object-store-memory", str(OBJECT_STORE_BYTES),
            # The fixed default (52365) would collide with the other clusters on this host.
            "--dashboard-agent-listen-port", str(free_port()), "--metrics-export-port", str(free_port()),
            *arguments,
        ]
        with log.open("w") as output:
            process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        self.processes.append(process)
        self.logs.append(log)

    def start(self) -> None:
        """A head (1 CPU, resource ``head``, no dashboard) and a worker node (2 CPUs, ``worker_node``)."""
        self.start_node("head", [
            "--head", "--port", self.address.split(":")[1], "--num-cpus", "1", "--resources", '{"head": 1}',
            "--include-dashboard", "false", "--temp-dir", str(self.temp_dir),
        ])
        self._wait_for_head()
        self.start_node("worker", ["--address", self.address, "--num-cpus", "2", "--resources", '{"worker_node": 2}'])

    def _wait_for_head(self) -> None:
        """The head's GCS port accepts connections (before that a worker node cannot join)."""
        deadline = time.monotonic() + NODE_START_TIMEOUT_S
        while time.monotonic() < deadline:
            self.fail_if_a_node_exited()
            try:
                socket.create_connection((LOOPBACK, int(self.address.split(":")[1])), timeout=1).close()
                return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"the Ray head at {self.address} did not start:\n{self.log_tail()}")

    def fail_if_a_node_exited(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"`{' '.join(map(str, process.args))}` exited with {process.returncode}:\n{self.log_tail()}")

    def log_tail(self, characters: int = 3000) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-characters:]}" for log in self.logs if log.exists())

    def stop(self) -> None:
        """SIGTERM each node's process group (``ray start --block`` then stops its own children), then
        SIGKILL whatever of those processes and their descendants is still alive."""
        tracked: list[psutil.Process] = []
        for process in self.processes:
            try:
                parent = psutil.Process(process.pid)
                tracked += [parent, *parent.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        self._signal_groups(signal.SIGTERM)
        _, alive = psutil.wait_procs(tracked, timeout=STOP_GRACE_S)
        self._signal_groups(signal.SIGKILL)
        for leftover in alive:
            try:
                leftover.kill()
            except psutil.NoSuchProcess:
                pass
        for process in self.processes:
            process.wait(timeout=STOP_GRACE_S)
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def _signal_groups(self, signum: int) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signum)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    local = LocalCluster.create(tmp_path_factory.mktemp("cluster"))
    try:
        local.start()
        yield local
    finally:
        local.stop()


def run_driver(cluster: LocalCluster, repository: Path) -> dict[str, Any]:
    """Run :func:`drive` (this file as a script) against the cluster and return what it reports."""
    env = {**cluster.env, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), cluster.env.get("PYTHONPATH")]))}
    finished = subprocess.run(
        [sys.executable, __file__, cluster.address, str(repository)],
        env=env, capture_output=True, text=True, timeout=DRIVER_TIMEOUT_S, cwd=TESTS.parent,
    )
    lines = [line for line in finished.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    assert finished.returncode == 0 and lines, (
        f"driver exited with {finished.returncode}\nstdout:\n{finished.stdout[-3000:]}\nstderr:\n{finished.stderr[-5000:]}\n"
        f"{cluster.log_tail()}"
    )
    return json.loads(lines[-1][len(RESULT_PREFIX):])


def test_fast_runs_across_two_nodes_with_pinned_runner_and_service(cluster, repository) -> None:
    report = run_driver(cluster, repository)
    nodes = report["nodes"]
    assert len(report["alive_nodes"]) == 2 and nodes["head"] != nodes["worker_node"]
    assert len(report["node_addresses"]) == 1  # two nodes, one host
    assert report["runner_nodes"] == [nodes["worker_node"]]
    assert report["service_node"] == nodes["head"]
    assert report["service_resources"].get("head") == 1.0
    fast = report["fast"]
    assert report["env_steps"] >= 3 * 64 and report["trained_steps"] > 0
    assert fast["decisions"] >= 3 and fast["service_latency_ms"] > 0
    assert "service_failures" not in fast
    # Θ = 0 in the tiny config: every answered decision hands control to a source.
    assert fast["following_source"] == 1.0 and report["behaviour"] != "target"


# The driver, run in its own process by run_driver -----------------------------------------------------


def _node_ids_by_resource() -> dict[str, str]:
    """Node id of the alive node that offers each custom resource of the test cluster."""
    placed = {}
    for node in ray.nodes():
        if node["Alive"]:
            for resource in ("head", "worker_node"):
                if resource in node["Resources"]:
                    placed[resource] = node["NodeID"]
    return placed


def _wait_for_nodes(count: int) -> None:
    deadline = time.monotonic() + NODE_START_TIMEOUT_S
    while sum(node["Alive"] for node in ray.nodes()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} Ray nodes did not come up within {NODE_START_TIMEOUT_S} s: {ray.nodes()}")
        time.sleep(0.5)


def drive(address: str, repository: Path, iterations: int = 3) -> dict[str, Any]:
    """FAST with its EnvRunner pinned to the worker node and its similarity service to the head."""
    import torch
    from ray.rllib.core import DEFAULT_MODULE_ID
    from tiny_repository import tiny_fast_config

    import fast_rllib  # noqa: F401  (task ids on the driver)

    torch.set_num_threads(1)
    ray.init(address=address, log_to_driver=False)
    _wait_for_nodes(2)
    config = tiny_fast_config(
        repository, similarity_service_resources={"head": 1}, similarity_service_name="fast_cluster_service"
    ).env_runners(custom_resources_per_env_runner={"worker_node": 1})
    algo = config.build_algo()
    try:
        for _ in range(iterations):
            result = algo.train()
        runner_nodes = algo.env_runner_group.foreach_env_runner(
            lambda runner: ray.get_runtime_context().get_node_id(), local_env_runner=False
        )
        service_info = ray.get(algo.similarity._service().info.remote(), timeout=60)
        behaviour = algo.behaviour
    finally:
        algo.stop()
    return {
        "nodes": _node_ids_by_resource(),
        "alive_nodes": [node["NodeID"] for node in ray.nodes() if node["Alive"]],
        "node_addresses": sorted({node["NodeManagerAddress"] for node in ray.nodes() if node["Alive"]}),
        "runner_nodes": runner_nodes,
        "service_node": service_info["node_id"],
        "service_resources": service_info["resources"],
        "behaviour": behaviour,
        "env_steps": result["num_env_steps_sampled_lifetime"],
        "trained_steps": result["learners"][DEFAULT_MODULE_ID]["num_module_steps_trained_lifetime"],
        "fast": {key: value for key, value in result["fast"].items() if not isinstance(value, dict)},
    }


if __name__ == "__main__":
    report = drive(sys.argv[1], Path(sys.argv[2]))
    print(RESULT_PREFIX + json.dumps(report), flush=True)
    ray.shutdown()
