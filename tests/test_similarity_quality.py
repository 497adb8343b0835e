"""The point of the similarity feature, held to the shipped defaults: with the shipped repository,
autoencoder and text model, every racing source outscores every non-racing source for every racing
target of the catalogue (held-out ones included), with frames alone and with frames + text."""

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


@pytest.mark.parametrize("modality", ["F", "FT"])
def test_racing_sources_outscore_the_others_for_every_racing_target(targets, modality: str) -> None:
    defaults = FASTConfig()
    service = SimilarityService(
        str(DEFAULT_REPOSITORY), modality=modality, metric=defaults.similarity_metric,
        text_weight=defaults.text_weight, pooling=defaults.text_pooling,
    )
    repository = SourceRepository.load(DEFAULT_REPOSITORY, check_modules=False)
    kinds = {entry.name: TASKS[entry.task_id].kind for entry in repository}
    assert {"racing", "driving"} <= set(kinds.values())
    margins = {
        target: separation_margin(service.scores(stacks, TASKS[target].description), kinds)
        for target, stacks in targets.items()
    }
    assert len(margins) == 10
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
