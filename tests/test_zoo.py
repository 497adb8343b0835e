"""The default repository shipped in the wheel (``fast_rllib/zoo``) is what a user gets without building
anything, so its promises are tested on the shipped files: it loads, it covers the task kinds FAST needs,
it leaves the held-out targets out, and every racing source drives its own track competently (returns
re-measured here, not read back from ``source.json``).
"""

from __future__ import annotations

import pytest

from fast_rllib.build.evaluation import mean_return, module_policy, run_episodes
from fast_rllib.repository import DEFAULT_REPOSITORY, SourceRepository
from fast_rllib.build.source_training import EVALUATION_SEED
from fast_rllib.tasks import HELD_OUT_TARGETS, TASKS, task_ids
from fast_rllib.tasks.controller import LaneFollowingController

COMPETENCE_FRACTION = 0.8
EVALUATION_SEEDS = 10


@pytest.fixture(scope="module")
def zoo() -> SourceRepository:
    return SourceRepository.load(DEFAULT_REPOSITORY)


def test_the_zoo_covers_racing_and_every_driving_task_but_no_held_out_target(zoo: SourceRepository) -> None:
    tasks = {entry.task_id for entry in zoo.entries}
    racing = {task for task in tasks if TASKS[task].kind == "racing"}
    assert len(racing) >= 4, f"only {len(racing)} racing sources: {sorted(racing)}"
    assert set(task_ids("driving")) <= tasks
    assert not tasks & set(HELD_OUT_TARGETS)


def _racing_source_names() -> list[str]:
    """Read at collection time (policies not loaded), so that each source is its own test."""
    repository = SourceRepository.load(DEFAULT_REPOSITORY, check_modules=False)
    return [entry.name for entry in repository if TASKS[entry.task_id].kind == "racing"]


def _mean_return(task_id: str, policy) -> float:
    """On the seeds the README's zoo table starts from (it uses 15, this the first 10)."""
    return mean_return(run_episodes(task_id, policy, episodes=EVALUATION_SEEDS, seed=EVALUATION_SEED, frame_size=None))


@pytest.mark.slow
@pytest.mark.extended
@pytest.mark.parametrize("name", _racing_source_names())
def test_every_racing_source_reaches_80_percent_of_the_lane_follower(zoo: SourceRepository, name: str) -> None:
    entry = zoo[name]
    task_id = entry.task_id
    source = _mean_return(task_id, module_policy(entry.load_module()))
    controller = _mean_return(task_id, LaneFollowingController())
    assert source >= COMPETENCE_FRACTION * controller, (
        f"source {entry.name!r} returns {source:.1f} on {task_id}, {source / controller:.0%} of the lane follower's "
        f"{controller:.1f} over seeds {EVALUATION_SEED}..{EVALUATION_SEED + EVALUATION_SEEDS - 1}"
    )
