"""Test-session settings and fixtures shared by every test module."""

import os
import shutil
import tempfile
from pathlib import Path

# Tune and every Algorithm built outside Tune write under ~/ray_results (ray.train.constants reads ~ once,
# on import): the tests get a home of their own, set before Ray is imported and inherited by the Ray
# workers and subprocesses they start, so that a test run leaves nothing in the user's home.
_TEST_HOME = tempfile.mkdtemp(prefix="fast-rllib-tests-home-")
os.environ["HOME"] = _TEST_HOME

import pytest  # noqa: E402
import ray  # noqa: E402
import torch
from tiny_repository import build_tiny_repository

# The tests run on 2-core machines next to Ray workers; one intra-op thread avoids the
# oversubscription that made small torch models 3x slower there.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def repository(tmp_path_factory) -> Path:
    """The tiny source repository (read-only: tests that damage one copy it first)."""
    return build_tiny_repository(tmp_path_factory.mktemp("repository"))


@pytest.fixture(scope="session")
def discrete_repository(tmp_path_factory) -> Path:
    """The tiny repository with DQN sources on the tasks' discrete-steering variants (read-only)."""
    return build_tiny_repository(tmp_path_factory.mktemp("discrete_repository"), discrete=True)


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray instance for one test module; 4 logical CPUs so that an Algorithm, its EnvRunner and a
    restored copy can be scheduled side by side on a 2-core machine."""
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def pytest_sessionfinish(session, exitstatus) -> None:
    shutil.rmtree(_TEST_HOME, ignore_errors=True)
