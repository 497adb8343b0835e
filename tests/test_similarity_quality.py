"""The point of the similarity feature, held to the shipped defaults (repository, autoencoder, text
model, metric): seen from every racing target of the catalogue (held-out ones included), with frames alone
and with frames + text, a racing source must rank first, and the descriptions alone must tell racing from
the rest. The full bar (every racing source above every non-racing one) is recorded as a strict xfail."""

from __future__ import annotations

import numpy as np
import pytest

from fast_rllib import FASTConfig
from fast_rllib.embedding.quality import racing_target_stacks, separation_margin
from fast_rllib.repository import DEFAULT_REPOSITORY, SourceRepository
from fast_rllib.embedding.text import TextEncoder
from fast_rllib.service import SimilarityService
from fast_rllib.tasks import TASKS


@pytest.fixture(scope="module")
def targets() -> dict:
    return racing_target_stacks(SourceRepository.load(DEFAULT_REPOSITORY, check_modules=False).frame_size)


@pytest.fixture(scope="module", params=["F", "FT"])
def scored(request, targets) -> tuple[str, dict[str, str], dict[str, dict[str, float]]]:
    """(modality, source kinds, target -> source -> score) with FAST's default metric and text settings."""
    defaults = FASTConfig()
    service = SimilarityService(
        str(DEFAULT_REPOSITORY), modality=request.param, metric=defaults.similarity_metric,
        text_weight=defaults.text_weight, pooling=defaults.text_pooling,
    )
    repository = SourceRepository.load(DEFAULT_REPOSITORY, check_modules=False)
    kinds = {entry.name: TASKS[entry.task_id].kind for entry in repository}
    assert {"racing", "driving"} <= set(kinds.values())
    scores = {target: service.scores(stacks, TASKS[target].description) for target, stacks in targets.items()}
    assert len(scores) == 10
    return request.param, kinds, scores


def test_a_racing_source_ranks_first_for_every_racing_target(scored) -> None:
    """What FAST's choice rests on: it follows the best-scoring source."""
    modality, kinds, scores = scored
    wrong = {target: max(row, key=row.get) for target, row in scores.items() if kinds[max(row, key=row.get)] != "racing"}
    assert not wrong, f"{modality}: a non-racing source ranks first for {wrong}"


@pytest.mark.xfail(
    strict=True,
    reason="issue 4's bar, not met yet: on the shipped repository a non-racing source outscores the weakest-"
    "matching racing one for 5 of 10 racing targets with F and for 1 (racetrack-large) with FT (README, "
    "'Embeddings and similarity'); strict, so that the day it passes the README and the issue get updated",
)
def test_racing_sources_outscore_every_non_racing_source(scored) -> None:
    modality, kinds, scores = scored
    margins = {target: separation_margin(row, kinds) for target, row in scores.items()}
    failures = {target: round(margin, 4) for target, margin in margins.items() if not margin > 0}
    assert not failures, f"{modality}: a non-racing source scores at least as high as a racing one for {failures}"


def test_descriptions_alone_tell_racing_from_the_rest() -> None:
    """What FT adds: with the default pooling, each racing description is closer to every racing source's
    description than to any non-racing one's ([CLS] pooling of the default model fails this)."""
    encoder = TextEncoder(pooling=FASTConfig().text_pooling)
    repository = SourceRepository.load(DEFAULT_REPOSITORY, check_modules=False)
    kinds = {entry.name: TASKS[entry.task_id].kind for entry in repository}
    sources = dict(zip(kinds, encoder.embed([entry.description for entry in repository])))
    for task_id, task in TASKS.items():
        if task.kind != "racing":
            continue
        target = encoder.embed([task.description])[0]
        cosines = {name: float(vector @ target / np.linalg.norm(vector) / np.linalg.norm(target)) for name, vector in sources.items()}
        assert separation_margin(cosines, kinds) > 0, (task_id, cosines)
