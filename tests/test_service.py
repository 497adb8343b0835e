"""The similarity service: right scores in-process, one shared CPU actor on a GPU-less Ray cluster that
batches concurrent queries without changing any answer, and settings that fail by name before any actor
starts."""

from __future__ import annotations

import numpy as np
import pytest
import ray
import torch

import fast_rllib.service as service_module

from fast_rllib.embedding.autoencoder import AutoencoderConfig
from fast_rllib.build.autoencoder_training import TrainingSettings, train_autoencoder
from fast_rllib.build.frame_collection import collect_frame_stacks
from fast_rllib.repository import SourceTask
from fast_rllib.service import (
    SimilarityService,
    SimilarityServiceSettings,
    _gpu_request,
    get_or_create_similarity_service,
    shipped_autoencoder_dir,
)
from fast_rllib.tasks import TASKS
from fast_rllib.tasks.controller import LaneFollowingController

FRAME_SIZE = 32
TASK_IDS = ("fast/racetrack-v0", "fast/highway-v0", "fast/roundabout-v0")


@pytest.fixture(scope="module")
def sources() -> list[SourceTask]:
    return [
        SourceTask(task_id, collect_frame_stacks(task_id, 8, FRAME_SIZE, LaneFollowingController(), stride=4, seed=i),
                   TASKS[task_id].description)
        for i, task_id in enumerate(TASK_IDS)
    ]


@pytest.fixture(scope="module")
def autoencoder_dir(sources, tmp_path_factory) -> str:
    settings = TrainingSettings(max_epochs=40, patience=40, batch_size=8, learning_rate=2e-3)
    model, report = train_autoencoder(np.concatenate([s.frames for s in sources]), AutoencoderConfig(FRAME_SIZE, 16), settings)
    assert report.validation_mse < report.mean_frame_mse, report
    directory = tmp_path_factory.mktemp("autoencoder")
    model.save(directory)
    return str(directory)


@pytest.fixture(scope="module")
def cpu_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_in_process_service_scores_every_source(sources, autoencoder_dir) -> None:
    service = SimilarityService.from_sources(sources, autoencoder_dir=autoencoder_dir, metric="rbf")
    assert service.source_names() == list(TASK_IDS)
    scores = service.scores(sources[1].frames[:2])
    assert list(scores) == list(TASK_IDS)
    assert max(scores, key=scores.get) == "fast/highway-v0"
    info = service.info()
    assert info["device"] == "cpu" and info["num_sources"] == 3 and info["embedding_dim"] == 16


def test_ft_service_loads_bert_offline(sources, autoencoder_dir, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    service = SimilarityService.from_sources(sources, autoencoder_dir=autoencoder_dir, modality="FT", pooling="mean")
    assert service.info()["embedding_dim"] == 16 + 384
    scores = service.scores(sources[0].frames[:1], TASKS["fast/racetrack-v0"].description)
    assert max(scores, key=scores.get) == "fast/racetrack-v0"
    with pytest.raises(ValueError, match="description of target frame stacks '' is empty"):
        service.scores(sources[0].frames[:1], "")


def test_a_batch_of_queries_scores_each_as_if_alone(sources, autoencoder_dir, monkeypatch) -> None:
    """FT: stacks of several targets with their own descriptions go through the autoencoder together; each
    answer equals that query's own, and a bad query gets its error in its place without failing the rest."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    service = SimilarityService.from_sources(sources, autoencoder_dir=autoencoder_dir, modality="FT", pooling="mean")
    queries = [(source.frames[: 1 + index], source.description) for index, source in enumerate(sources)]
    queries.insert(1, (sources[0].frames[:1], ""))
    batched = service.scores_many(queries)
    assert isinstance(batched[1], ValueError) and "description of target frame stacks '' is empty" in str(batched[1])
    for (stacks, description), answer in zip(queries[:1] + queries[2:], batched[:1] + batched[2:]):
        assert answer == service.scores(stacks, description)
    assert [max(answer, key=answer.get) for answer in batched[:1] + batched[2:]] == list(TASK_IDS)


def test_settings_name_what_is_wrong(tmp_path, autoencoder_dir) -> None:
    good = dict(repository_path=str(tmp_path), autoencoder_dir=autoencoder_dir)
    SimilarityServiceSettings(**good).validate()
    with pytest.raises(ValueError, match="metric='cosine' is not supported"):
        SimilarityServiceSettings(**good, metric="cosine").validate()
    with pytest.raises(ValueError, match="modality='T' is not supported"):
        SimilarityServiceSettings(**good, modality="T").validate()
    with pytest.raises(ValueError, match="pooling='max' is not supported"):
        SimilarityServiceSettings(**good, pooling="max").validate()
    with pytest.raises(ValueError, match=r"text_weight=-0.5 must be a finite number >= 0"):
        SimilarityServiceSettings(**good, text_weight=-0.5).validate()
    with pytest.raises(FileNotFoundError, match="repository_path '/nowhere' is not a directory"):
        SimilarityServiceSettings(repository_path="/nowhere", autoencoder_dir=autoencoder_dir).validate()
    with pytest.raises(FileNotFoundError, match=f"autoencoder_dir '{tmp_path}/autoencoder' is not a directory"):
        SimilarityServiceSettings(repository_path=str(tmp_path)).validate()
    with pytest.raises(ValueError, match="unknown similarity service setting.* metrik"):
        SimilarityServiceSettings.from_mapping({"metrik": "rbf"})
    with pytest.raises(ValueError, match="give exactly one of repository_path and sources"):
        SimilarityService(autoencoder_dir=autoencoder_dir)


@pytest.fixture(scope="module")
def service(cpu_cluster, sources, autoencoder_dir):
    """One actor for the module: each start costs seconds (a worker importing torch and Ray)."""
    settings = {"autoencoder_dir": autoencoder_dir, "metric": "standardized_cosine"}
    # Keep the handle: a non-detached named actor is garbage-collected once its creator drops every handle.
    return settings, get_or_create_similarity_service("test-service", settings, sources=sources)


def test_actor_is_shared_by_name(service, sources) -> None:
    settings, first = service
    second = get_or_create_similarity_service("test-service", SimilarityServiceSettings(**settings), sources=sources)
    assert first._actor_id == second._actor_id


def test_actor_runs_on_cpu_without_asking_for_a_gpu(service) -> None:
    _, handle = service
    info = ray.get(handle.info.remote(), timeout=120)
    assert info["device"] == "cpu" and info["metric"] == "standardized_cosine" and info["num_sources"] == 3
    # Placed at all (a GPU request would pend forever here) and holding no GPU.
    assert info["resources"].get("GPU", 0) == 0 and info["resources"]["CPU"] == 0.5
    assert _gpu_request(None) == 0.0 and _gpu_request(1.0) == 0.0


def test_actor_scores_match_the_in_process_service(service, sources) -> None:
    settings, handle = service
    remote = ray.get(handle.scores.remote(sources[2].frames[:2]), timeout=60)
    local = SimilarityService.from_sources(sources, **settings).scores(sources[2].frames[:2])
    assert list(remote) == list(local) == list(TASK_IDS)
    np.testing.assert_allclose(list(remote.values()), list(local.values()), rtol=1e-5)


def test_an_existing_service_with_other_settings_is_an_error(service, sources) -> None:
    settings, _ = service
    with pytest.raises(ValueError, match=r"'test-service' already runs with other settings \(metric"):
        get_or_create_similarity_service("test-service", {**settings, "metric": "rbf"}, sources=sources)


def test_a_killed_service_is_restarted(service, sources) -> None:
    _, handle = service
    before = ray.get(handle.scores.remote(sources[0].frames[:1]), timeout=60)
    ray.kill(handle, no_restart=False)
    after = ray.get(handle.scores.remote(sources[0].frames[:1]), timeout=120)
    assert after == pytest.approx(before)


BATCH = 6


@pytest.fixture(scope="module")
def batching_service(cpu_cluster, sources, autoencoder_dir):
    """A service whose batches always fill: BATCH queries sent together form exactly one batch (the wait
    bound is far longer than sending them takes, and ends as soon as the batch is full)."""
    settings = {"autoencoder_dir": autoencoder_dir, "metric": "nearest_cosine"}
    handle = get_or_create_similarity_service(
        "test-batching", settings, sources=sources, max_batch_size=BATCH, batch_wait_s=60.0
    )
    return settings, handle


def _queries(sources) -> list[np.ndarray]:
    """BATCH different target windows (1 to 3 stacks from every source)."""
    return [source.frames[start : start + 1 + start % 3] for source in sources for start in (0, 2)]


def test_concurrent_queries_share_one_encoder_pass_and_get_their_own_answers(batching_service, sources) -> None:
    settings, handle = batching_service
    queries = _queries(sources)
    assert len(queries) == BATCH
    answers = ray.get(
        [handle.scores.remote(stacks, client=f"trial-{index % 3}") for index, stacks in enumerate(queries)], timeout=120
    )
    alone = SimilarityService.from_sources(sources, **settings)
    assert answers == [alone.scores(stacks) for stacks in queries]
    stats = ray.get(handle.stats.remote(), timeout=30)
    assert stats["batches"] == 1 and stats["largest_batch"] == BATCH
    assert stats["client_requests"] == {"trial-0": 2, "trial-1": 2, "trial-2": 2}


def test_the_service_reports_its_own_cpu_time_and_memory(batching_service, sources) -> None:
    """service_scale.py reads the service's cost from stats(): CPU seconds that grow with the work it does
    and a peak memory that never shrinks."""
    _, handle = batching_service
    before = ray.get(handle.stats.remote(), timeout=30)
    ray.get([handle.scores.remote(stacks) for stacks in _queries(sources) * 4], timeout=120)
    after = ray.get(handle.stats.remote(), timeout=30)
    assert after["cpu_s"] > before["cpu_s"] > 0
    assert after["peak_rss_mib"] >= before["peak_rss_mib"] > 50  # torch and the encoders alone take more


def test_a_bad_query_fails_alone_and_names_its_frames(batching_service, sources) -> None:
    _, handle = batching_service
    queries = _queries(sources)
    queries[3] = np.zeros((1, 4, 16, 16), dtype=np.uint8)
    refs = [handle.scores.remote(stacks, client="bad-input") for stacks in queries]
    with pytest.raises(ValueError, match=r"target frame stacks must be \(N >= 1, 4, 32, 32\) uint8, got shape \(1, 4, 16, 16\)"):
        ray.get(refs[3], timeout=120)
    answers = ray.get(refs[:3] + refs[4:], timeout=120)
    assert all(list(answer) == list(TASK_IDS) for answer in answers)
    assert ray.get(handle.stats.remote(), timeout=30)["client_requests"]["bad-input"] == BATCH


def test_batching_settings_are_checked_before_any_actor_starts(cpu_cluster, autoencoder_dir, sources) -> None:
    settings = {"autoencoder_dir": autoencoder_dir}
    with pytest.raises(ValueError, match=r"max_batch_size=0 must be an integer >= 1 \(1: every request alone\)"):
        get_or_create_similarity_service("test-bad-batch", settings, sources=sources, max_batch_size=0)
    with pytest.raises(ValueError, match=r"batch_wait_s=-1.0 must be a finite number of seconds >= 0"):
        get_or_create_similarity_service("test-bad-batch", settings, sources=sources, batch_wait_s=-1.0)
    with pytest.raises(ValueError, match="Failed to look up actor"):
        ray.get_actor("test-bad-batch", namespace="fast_rllib")


def test_settings_paths_are_made_absolute(tmp_path, monkeypatch) -> None:
    """The actor may start in another working directory; equal settings must compare equal."""
    monkeypatch.chdir(tmp_path)
    settings = SimilarityServiceSettings(repository_path="repo", autoencoder_dir=tmp_path / "ae")
    assert settings.repository_path == str(tmp_path / "repo") and settings.autoencoder_dir == str(tmp_path / "ae")
    assert settings.resolved_autoencoder_dir() == str(tmp_path / "ae")
    assert SimilarityServiceSettings(repository_path="repo").resolved_autoencoder_dir() == str(tmp_path / "repo" / "autoencoder")


@pytest.mark.skipif(not (shipped_autoencoder_dir() / "autoencoder.pt").is_file(), reason="no shipped autoencoder")
def test_the_shipped_repository_and_autoencoder_fit_together() -> None:
    """What the wheel ships must work as the default: same frame size, one score per repository entry."""
    from fast_rllib.repository import DEFAULT_REPOSITORY

    service = SimilarityService(str(DEFAULT_REPOSITORY), metric="rbf")
    names = service.source_names()
    assert names and service.info()["frame_size"] == 96
    stack = collect_frame_stacks("fast/racetrack-v0", 1, 96, LaneFollowingController(), seed=7)
    scores = service.scores(stack)
    assert list(scores) == names and all(0.0 <= value <= 1.0 for value in scores.values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="runs only where CUDA exists")
def test_with_cuda_the_encoders_run_on_it_in_batches_and_answer_as_on_the_cpu(sources, autoencoder_dir, monkeypatch) -> None:
    """On a CUDA machine the service's encoders take the GPU, a batch of concurrent queries goes through them
    in one pass, and each answer is the CPU service's for that query alone (to float tolerance: GPU kernels
    round differently)."""
    settings = {"autoencoder_dir": autoencoder_dir, "metric": "nearest_cosine"}
    on_gpu = SimilarityService.from_sources(sources, **settings)
    assert on_gpu.device == "cuda" and on_gpu.info()["device"] == "cuda"
    queries = _queries(sources)
    batched = on_gpu.scores_many([(stacks, None) for stacks in queries])
    monkeypatch.setattr(service_module, "_choose_device", lambda: "cpu")
    on_cpu = SimilarityService.from_sources(sources, **settings)
    assert on_cpu.device == "cpu"
    for answer, stacks in zip(batched, queries):
        assert answer == pytest.approx(on_cpu.scores(stacks), abs=1e-4)
