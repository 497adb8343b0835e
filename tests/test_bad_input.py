"""Bad input reaches FAST through its config, its repository, the similarity service and the ``rllib``
command; each must fail early with a message that names the culprit.

Only what the other test modules leave out is here: they check the repository, catalogue, embedder,
frame capture and text encoder on their own (test_repository, test_catalogue, test_task_embedding,
test_frames, test_text_encoder); this module checks the same faults where a FAST user meets them:
``FASTConfig.validate()``, ``build_algo()``, the service actor and ``rllib train file``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import ray
from directory_digest import tree_digest
from tiny_repository import tiny_fast_config

from fast_rllib.commands.rllib_cli import main as rllib_main
from fast_rllib.fast.config import PAPER_THRESHOLD
from fast_rllib.service import get_or_create_similarity_service

pytestmark = pytest.mark.slow
TARGET = "fast/indiana-v0"
RLLIB_SUFFIX = "To suppress all validation errors, set `config.experimental(_validate_config=False)` at your own risk."


@pytest.fixture
def broken_copy(repository, tmp_path) -> Path:
    """A copy of the tiny repository that a test may damage."""
    return Path(shutil.copytree(repository, tmp_path / "repository"))


def exactly(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern for this whole message, taken literally."""
    return f"^{re.escape(message)}$"


def config_error(message: str) -> str:
    """The whole message of a ``validate()`` error: ours, then the line RLlib's ``_value_error`` appends."""
    return "(?s)^" + re.escape(f"{message}\n{RLLIB_SUFFIX}") + "$"


# FASTConfig.validate() ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("training", "message"),
    [
        ({"similarity_threshold": -0.1}, "similarity_threshold=-0.1 is outside the range of similarity_metric 'minmax_cosine': [0.0, 1.0]"),
        ({"similarity_metric": "rbf", "similarity_threshold": 1.2}, "similarity_threshold=1.2 is outside the range of similarity_metric 'rbf': [0.0, 1.0]"),
        ({"similarity_threshold": "high"}, "similarity_threshold='high' must be a number or None"),
        ({"similarity_interval": -5}, "similarity_interval=-5 must be a positive integer (env steps)"),
        ({"similarity_interval": 1.5}, "similarity_interval=1.5 must be a positive integer (env steps)"),
        ({"similarity_interval": True}, "similarity_interval=True must be a positive integer (env steps)"),
        ({"frame_size": 8}, "frame_size=8 must be an integer >= 16 (pixels)"),
        ({"target_description": "  "}, "target_description='  ' is empty: describe what the agent sees and must do"),
        ({"similarity_service_resources": {"head": -1}},
         "similarity_service_resources={'head': -1} is invalid: similarity service resource 'head'=-1 must be a finite number >= 0"),
        ({"similarity_service_resources": {"GPU": 1}},
         "similarity_service_resources={'GPU': 1} is invalid: similarity service resource 'GPU' is set through "
         "similarity_service_num_gpus, not resources"),
        ({"similarity_service_resources": ["head"]},
         "similarity_service_resources=['head'] is invalid: similarity service resources must be a dict of resource "
         "name -> amount, got list"),
    ],
    ids=["negative-theta", "theta-over-rbf-range", "theta-not-a-number", "negative-k", "fractional-k", "boolean-k", "tiny-frames",
         "blank-description", "negative-resource", "gpu-as-resource", "resources-not-a-dict"],
)
def test_out_of_range_settings_are_named(repository, training: dict, message: str) -> None:
    with pytest.raises(ValueError, match=config_error(message)):
        tiny_fast_config(repository, **training).validate()


def test_theta_left_unset_keeps_each_rules_behaviour(repository) -> None:
    """Unset, Θ is the paper rule's 0.4 and no floor under the default rule (as before Θ had a meaning
    there); set, each rule applies it."""
    paper, bandit = tiny_fast_config(repository, similarity_threshold=None), tiny_fast_config(
        repository, similarity_threshold=None, selection_rule="bandit"
    )
    assert paper.selection_settings().threshold == PAPER_THRESHOLD == 0.4
    assert bandit.selection_settings().threshold is None
    assert bandit.training(similarity_threshold=0.3).selection_settings().threshold == 0.3


def test_an_unknown_task_id_is_named_with_the_known_ones(repository) -> None:
    config = tiny_fast_config(repository).environment("fast/nowhere-v0")
    with pytest.raises(ValueError, match=r"^env='fast/nowhere-v0': unknown task id 'fast/nowhere-v0': .* catalogue ids: .*fast/indiana-v0"):
        config.validate()


def test_a_target_whose_spaces_differ_from_the_sources_is_refused(repository) -> None:
    """Two-dimensional actions (throttle and steering) against sources that only steer."""
    config = tiny_fast_config(repository).environment(TARGET, env_config={"action_mode": "acceleration_steering"})
    with pytest.raises(ValueError, match=config_error(
        f"repository_path='{repository}' cannot serve target '{TARGET}': source entry 'racetrack-oval-v0' at "
        f"{repository / 'racetrack-oval-v0'}: action_space differs from the expected one: shape [1] != expected [2]"
    )):
        config.validate()


def test_a_missing_entry_folder_is_named(broken_copy) -> None:
    shutil.rmtree(broken_copy / "highway-v0")
    _validate_fails_naming(broken_copy, (
        rf"source entry 'highway-v0' at {re.escape(str(broken_copy / 'highway-v0'))}: entry folder is missing"
    ))


def test_corrupt_entry_frames_are_named(broken_copy) -> None:
    (broken_copy / "highway-v0" / "frames.parquet").write_bytes(b"garbage")
    _validate_fails_naming(broken_copy, (
        rf"source entry 'highway-v0' at {re.escape(str(broken_copy / 'highway-v0'))}: bad frames.parquet: "
    ))


# build_algo(): what validate() cannot see without loading weights or the text model ----------------------


def _truncate(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


def _validate_fails_naming(copy: Path, message: str) -> None:
    """validate() fails on the driver with ``message`` (a regex) after the repository prefix, and changes
    nothing on disk."""
    before = tree_digest(copy)
    with pytest.raises(ValueError, match=(
        rf"^repository_path='{re.escape(str(copy))}' cannot serve target '{TARGET}': {message}"
    )):
        tiny_fast_config(copy).validate()
    assert tree_digest(copy) == before


def test_a_truncated_module_is_named_by_validate(broken_copy) -> None:
    """The module's recorded SHA-256 catches it before any module is built, let alone a worker started."""
    _truncate(broken_copy / "highway-v0" / "module" / "weights.safetensors", 2000)
    _validate_fails_naming(broken_copy, (
        rf"source entry 'highway-v0' at {re.escape(str(broken_copy / 'highway-v0'))}: module/weights.safetensors "
        r"is damaged \(2000 bytes, source.json records \d+\): truncated or changed after it was written"
    ))


def test_a_truncated_module_without_checksums_is_named_by_validate(broken_copy) -> None:
    """An entry written before checksums existed: validate reads every module's weights on the driver."""
    source_json = broken_copy / "highway-v0" / "source.json"
    info = json.loads(source_json.read_text())
    del info["module_files"]
    source_json.write_text(json.dumps(info))
    tiny_fast_config(broken_copy).validate()
    _truncate(broken_copy / "highway-v0" / "module" / "weights.safetensors", 2000)
    _validate_fails_naming(broken_copy, r"source entry 'highway-v0' at .*highway-v0: module/weights.safetensors: unreadable")


def test_a_repository_without_its_index_is_named(broken_copy) -> None:
    (broken_copy / "index.json").unlink()
    _validate_fails_naming(broken_copy, rf"no source repository at {re.escape(str(broken_copy))}: index.json is missing")


def test_truncated_frames_are_named(broken_copy) -> None:
    _truncate(broken_copy / "highway-v0" / "frames.parquet", 300)
    _validate_fails_naming(broken_copy, r"source entry 'highway-v0' at .*highway-v0: bad frames.parquet: ")


def test_a_truncated_autoencoder_is_named_by_validate(broken_copy) -> None:
    _truncate(broken_copy / "autoencoder" / "autoencoder.pt", 2000)
    before = tree_digest(broken_copy)
    with pytest.raises(ValueError, match=(
        rf"^autoencoder_dir='{re.escape(str(broken_copy / 'autoencoder'))}' cannot be used: autoencoder.pt in "
        r".* is unreadable"
    )):
        tiny_fast_config(broken_copy).validate()
    assert tree_digest(broken_copy) == before


def test_an_over_long_ft_description_fails_the_build_instead_of_every_query(repository, ray_session) -> None:
    """Every FT query would reject it, and FAST treats a failed query as "let the target drive": without
    the check at build time, the run would silently never transfer."""
    description = "The car follows a long oval track. " * 200
    config = tiny_fast_config(
        repository, modality="FT", target_description=description, similarity_service_name="fast_long_description"
    ).env_runners(num_env_runners=0)
    config.validate()
    with pytest.raises(ValueError, match=(
        r"^target_description cannot be used by similarity service fast_long_description-\w+: task description is "
        r"\d+ tokens long, over the text model's limit of 512: shorten it \(it starts 'The car follows a long oval track"
    )):
        config.build_algo()


# The similarity service actor ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(repository, ray_session):
    return get_or_create_similarity_service("fast_bad_frames", {"repository_path": str(repository)})


@pytest.mark.parametrize(
    ("stacks", "message"),
    [
        (np.zeros((1, 4, 32, 32), np.float32), "target frame stacks must be (N >= 1, 4, 32, 32) uint8, got shape (1, 4, 32, 32) dtype float32"),
        (np.zeros((4, 32, 32), np.uint8), "target frame stacks must be (N >= 1, 4, 32, 32) uint8, got shape (4, 32, 32) dtype uint8"),
        (np.zeros((1, 4, 64, 64), np.uint8),
         "target frame stacks must be (N >= 1, 4, 32, 32) uint8, got shape (1, 4, 64, 64): the autoencoder was built for 32x32 frames"),
    ],
    ids=["float-frames", "one-stack-without-batch", "wrong-frame-size"],
)
def test_the_service_actor_names_bad_frame_stacks(service, stacks: np.ndarray, message: str) -> None:
    """The message survives the trip through Ray (the caller gets a RayTaskError that is a ValueError)."""
    with pytest.raises(ValueError, match=re.escape(message)):
        ray.get(service.scores.remote(stacks), timeout=60)


# The rllib command -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("stop = {'training_iteration': 1}\n", "nothing"),
        ("config = {'lr': 0.001}\n", "dict"),
    ],
    ids=["no-config", "config-is-a-dict"],
)
def test_a_tuned_example_without_a_config_names_the_file(tmp_path: Path, source: str, found: str) -> None:
    example = tmp_path / "my_example.py"
    example.write_text(source)
    with pytest.raises(SystemExit, match=exactly(
        f"rllib: tuned-example file '{example}' must define a module-level `config` (an AlgorithmConfig); found {found}"
    )):
        rllib_main(["train", "file", str(example)])


def test_a_tuned_example_with_a_bad_stop_names_the_file(tmp_path: Path) -> None:
    example = tmp_path / "bad_stop.py"
    example.write_text("from fast_rllib.training import TransitionSACConfig\nconfig = TransitionSACConfig()\nstop = [1]\n")
    with pytest.raises(SystemExit, match=exactly(
        f"rllib: `stop` in '{example}' must be a dict of stop criteria, got list"
    )):
        rllib_main(["train", "file", str(example)])
