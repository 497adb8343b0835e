"""FAST keeps training through the failures a cluster actually has: an EnvRunner process that dies, a
similarity service that dies (and is restarted by Ray), and a Tune trial that crashes and resumes.

Everything is real: the tiny repository, the service actor, RLlib's EnvRunner restarts, Tune's
failure handling. Failures are injected the way they happen (``ray.kill`` of the process, an exception
inside the trial) rather than by replacing any of FAST's parts.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import ray
import torch
from ray import tune
from ray.rllib.core import DEFAULT_MODULE_ID
from tiny_repository import policy_outputs, runner_outputs, tiny_fast_config, train_until_a_source_drove_a_whole_step

import fast_rllib  # noqa: F401  (registers the "FAST" trainable and the task ids)
from fast_rllib.repository import SourceRepository
from fast_rllib.fast import similarity_client
from fast_rllib.fast.selection import TARGET

pytestmark = pytest.mark.slow
# Long enough for the killed process to be gone and for RLlib to bring it back.
MAX_ITERATIONS_AFTER_A_KILL = 12


def _kill_during(train: Callable[[], dict], kill: Callable[[], None], after_s: float) -> dict:
    """Run one ``train()`` while ``kill`` fires from another thread ``after_s`` seconds in: the process
    dies in the middle of sampling, pushing or scoring, as it would on a cluster."""
    killer = threading.Timer(after_s, kill)
    killer.start()
    try:
        return train()
    finally:
        killer.join()


# A killed EnvRunner ------------------------------------------------------------------------------------


def test_a_killed_env_runner_is_restarted_and_drives_with_the_selected_source(repository, ray_session) -> None:
    """Θ = 0, so a source drives from the first decision; RLlib restarts the killed EnvRunner and copies
    the local EnvRunner's module into it, which FAST keeps on the behaviour policy."""
    config = tiny_fast_config(repository, similarity_service_name="fast_fault_runner").fault_tolerance(
        restart_failed_env_runners=True
    )
    algo = config.build_algo()
    try:
        _, driving = train_until_a_source_drove_a_whole_step(algo, min_steps=2)
        source = SourceRepository.load(repository)[driving].load_module()
        [(pid_before, outputs_before)] = runner_outputs(algo)
        torch.testing.assert_close(outputs_before, policy_outputs(source))
        steps_before = algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"))
        # RLlib has no public accessor for a remote EnvRunner's actor handle; its manager keys them by id.
        handle = algo.env_runner_group._worker_manager.actors()[1]
        result = _kill_during(algo.train, lambda: ray.kill(handle, no_restart=False), after_s=0.5)
        for _ in range(MAX_ITERATIONS_AFTER_A_KILL):
            if algo.env_runner_group.num_remote_worker_restarts() >= 1 and algo.env_runner_group.num_healthy_remote_env_runners() == 1:
                break
            result = algo.train()
        # decisions and sampling on the restarted runner
        result, driving = train_until_a_source_drove_a_whole_step(algo, min_steps=2)
        assert algo.env_runner_group.num_remote_worker_restarts() >= 1
        [(pid_after, outputs_after)] = runner_outputs(algo)
        assert pid_after != pid_before
        source = SourceRepository.load(repository)[driving].load_module()
        torch.testing.assert_close(outputs_after, policy_outputs(source))
        assert result["num_env_steps_sampled_lifetime"] > steps_before + 64
        assert result["learners"][DEFAULT_MODULE_ID]["num_module_steps_trained_lifetime"] > 0
    finally:
        algo.stop()


# A killed similarity service ----------------------------------------------------------------------------


def test_a_killed_service_falls_back_to_the_target_then_scores_again(repository, ray_session) -> None:
    """While Ray restarts the service, queries time out: FAST counts each failure, lets the target drive
    for that decision and keeps training; once the service is back, scores select a source again.

    Θ = 0, so every answered decision selects a source: a behaviour switch to the target can only come
    from a failed query, and the first switch (target -> source) is the only one of an undisturbed run.
    """
    config = tiny_fast_config(repository, similarity_service_name="fast_fault_service", similarity_timeout_s=1.0)
    algo = config.build_algo()
    try:
        for _ in range(2):
            result = algo.train()
        assert algo.behaviour != TARGET and algo.selector.state.switches == 1
        assert "service_failures" not in result["fast"]
        handle = algo.similarity._service()
        ray.kill(handle, no_restart=False)
        iterations, failures = 0, 0.0
        decisions_at_last_failure = None
        while iterations < MAX_ITERATIONS_AFTER_A_KILL:
            result = algo.train()
            iterations += 1
            fast = result["fast"]
            if fast.get("service_failures", 0) > failures:
                failures, decisions_at_last_failure = fast["service_failures"], fast["decisions"]
            elif failures and fast["decisions"] > decisions_at_last_failure and fast["following_source"] == 1.0:
                break
        assert failures >= 1, "killing the service caused no failed query"
        # Fallback: at least source -> target on a failure and target -> source once scores came back.
        assert algo.selector.state.switches >= 3
        assert algo.behaviour != TARGET and fast["following_source"] == 1.0
        assert fast["decisions"] > decisions_at_last_failure
        assert set(algo.selector.state.scores) == {"racetrack-oval-v0", "highway-v0"}
        assert ray.get(algo.similarity._service().ping.remote(), timeout=30)
    finally:
        algo.stop()


def test_a_service_no_node_can_place_never_stops_training(repository, ray_session, monkeypatch) -> None:
    """A custom resource no node offers leaves the service pending forever: after the one-time start
    allowance (shortened here) every lookup must give up after similarity_timeout_s, count the failure and
    let the target drive."""
    monkeypatch.setattr(similarity_client, "SERVICE_START_TIMEOUT_S", 3.0)
    config = tiny_fast_config(
        repository,
        similarity_service_name="fast_unplaceable_service",
        similarity_timeout_s=1.0,
        similarity_service_resources={"no_such_node": 1},
    )
    algo = config.build_algo()
    try:
        for _ in range(2):
            result = algo.train()
        assert result["training_iteration"] == 2
        assert result["fast"]["service_failures"] >= 1
        assert algo.behaviour == TARGET and result["fast"]["following_source"] == 0.0
    finally:
        algo.stop()


# A killed service under load --------------------------------------------------------------------------

LOAD_CLIENTS = 32
# Clients per Ray task, each on a thread of its own: 32 trials' clients without 32 worker processes on a
# 2-core machine (the service cannot tell threads of one process from trials).
CLIENTS_PER_TASK = 8
ANSWERS_AFTER_A_FAILURE = 3
MAX_QUERIES_PER_CLIENT = 400


def _querying_clients():
    """A Ray task (a closure, so that it pickles by value into the worker) running several clients at once.
    Each queries the shared service through FAST's own client, as a trial does at each decision, until it
    has seen a failure and then ANSWERS_AFTER_A_FAILURE answers again (or MAX_QUERIES_PER_CLIENT queries);
    the task returns every client's outcomes."""

    def run_clients(windows: dict, settings: dict, timeout_s: float) -> dict:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(windows)) as threads:
            running = {
                client: threads.submit(query_until_recovered, client, settings, stacks, timeout_s)
                for client, stacks in windows.items()
            }
            return {client: outcome.result() for client, outcome in running.items()}

    def query_until_recovered(client_id: str, settings: dict, stacks, timeout_s: float) -> list:
        client = similarity_client.SimilarityClient(
            "fast_load", settings, client_id=client_id, num_gpus=None, num_cpus=0.5, timeout_s=timeout_s
        )
        outcomes, failed, answered_after = [], False, 0
        while len(outcomes) < MAX_QUERIES_PER_CLIENT and answered_after < ANSWERS_AFTER_A_FAILURE:
            scores, _ = client.scores(stacks, "unused: modality F")
            outcomes.append(scores)
            failed = failed or scores is None
            answered_after += failed and scores is not None
        return outcomes

    return run_clients


def test_a_service_killed_under_load_loses_no_query_and_answers_every_client_again(repository, ray_session) -> None:
    """LOAD_CLIENTS clients query one service concurrently; it is killed once every client has been
    answered. Each query ends as an answer or as a fallback to the target (None) within its timeout, every
    answer is exactly what the service gives that query alone, and the restarted service answers every
    client again. Nothing hangs: every task returns."""
    from fast_rllib.service import SimilarityService, SimilarityServiceSettings, get_or_create_similarity_service

    settings = {"repository_path": str(repository), "metric": "minmax_cosine"}
    name = similarity_client.service_name("fast_load", SimilarityServiceSettings(**settings))
    handle = get_or_create_similarity_service(name, settings, num_cpus=0.5)
    entries = SourceRepository.load(repository, check_modules=False)
    stacks = {f"client-{i}": entries[entries.names[i % 2]].frames[: 1 + i % 2] for i in range(LOAD_CLIENTS)}
    alone = SimilarityService(str(repository), metric="minmax_cosine")
    expected = {client: alone.scores(window) for client, window in stacks.items()}
    task = ray.remote(num_cpus=0.1)(_querying_clients())
    clients = list(stacks)
    groups = [clients[start : start + CLIENTS_PER_TASK] for start in range(0, LOAD_CLIENTS, CLIENTS_PER_TASK)]
    refs = [task.remote({client: stacks[client] for client in group}, settings, 1.0) for group in groups]
    deadline = time.monotonic() + 120
    while set(ray.get(handle.stats.remote(), timeout=30)["client_requests"]) != set(stacks):
        assert time.monotonic() < deadline, "the clients never all reached the service"
        time.sleep(0.2)
    ray.kill(handle, no_restart=False)
    outcomes = {client: results for group in ray.get(refs, timeout=300) for client, results in group.items()}
    assert set(outcomes) == set(stacks)
    for client, results in outcomes.items():
        assert all(result is None or result == expected[client] for result in results), client
    fell_back = [client for client, results in outcomes.items() if None in results]
    assert fell_back, "killing the service under load made no query fall back"
    for client in fell_back:
        assert outcomes[client][-ANSWERS_AFTER_A_FAILURE:] == [expected[client]] * ANSWERS_AFTER_A_FAILURE
    after_restart = ray.get(handle.stats.remote(), timeout=60)["client_requests"]
    assert set(after_restart) == set(stacks), after_restart


# A crashed Tune trial -----------------------------------------------------------------------------------


def _recording_callbacks(log_path: Path, marker_path: Path) -> dict[str, Callable[..., None]]:
    """RLlib callbacks (closures, so they pickle by value into the trial) that log every result and
    checkpoint load to ``log_path``, and crash the first attempt at iteration 2, after the checkpoint of
    iteration 1 was written."""

    def record(event: str, algorithm: Any, iteration: int) -> None:
        with log_path.open("a") as log:
            log.write(json.dumps({
                "event": event, "pid": os.getpid(), "iteration": iteration,
                "decisions": algorithm.selector.state.decisions, "behaviour": algorithm.behaviour,
            }) + "\n")

    def on_train_result(*, algorithm, result, **kwargs) -> None:
        record("result", algorithm, result["training_iteration"])
        if result["training_iteration"] == 2 and not marker_path.exists():
            marker_path.write_text("crashed once")
            raise RuntimeError("injected trial failure after the first checkpoint")

    def on_checkpoint_loaded(*, algorithm, **kwargs) -> None:
        record("checkpoint_loaded", algorithm, algorithm.iteration)

    return {"on_train_result": on_train_result, "on_checkpoint_loaded": on_checkpoint_loaded}


@pytest.mark.extended  # a Tune trial run twice (about a minute): outside CI, see docs/using-fast.md
def test_a_crashed_tune_trial_resumes_from_its_checkpoint_with_its_selection_state(repository, ray_session, tmp_path) -> None:
    log_path, marker_path = tmp_path / "events.jsonl", tmp_path / "crashed"
    config = tiny_fast_config(repository, similarity_service_name="fast_fault_tune").callbacks(
        **_recording_callbacks(log_path, marker_path)
    )
    tuner = tune.Tuner(
        "FAST",
        param_space=config,
        run_config=tune.RunConfig(
            storage_path=str(tmp_path / "results"),
            stop={"training_iteration": 3},
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=1),
            checkpoint_config=tune.CheckpointConfig(checkpoint_frequency=1),
        ),
    )
    results = tuner.fit()
    assert not results.errors, results.errors
    events = [json.loads(line) for line in log_path.read_text().splitlines()]
    first_pid = events[0]["pid"]
    first = [event for event in events if event["pid"] == first_pid]
    resumed = [event for event in events if event["pid"] != first_pid]
    assert marker_path.exists() and [event["iteration"] for event in first] == [1, 2]
    checkpointed = first[0]
    loaded, *after = resumed
    # The second attempt starts from the checkpoint of iteration 1, with its selection state ...
    assert loaded["event"] == "checkpoint_loaded" and loaded["iteration"] == 1
    assert loaded["decisions"] == checkpointed["decisions"] > 0 and loaded["behaviour"] == checkpointed["behaviour"]
    # ... and goes on counting from there instead of from 0.
    assert [event["iteration"] for event in after] == [2, 3]
    assert after[0]["decisions"] > checkpointed["decisions"]
    final = results[0].metrics
    assert final["training_iteration"] == 3 and final["fast"]["decisions"] == after[-1]["decisions"]
