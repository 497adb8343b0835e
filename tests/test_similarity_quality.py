"""The point of the similarity feature, held to the shipped defaults: with the shipped repository,
autoencoder and text model, every racing source outscores every non-racing source for every racing
target of the catalogue (held-out ones included), with frames alone and with frames + text."""

from __future__ import annotations

import pytest

from fast_rllib import FASTConfig
from fast_rllib.embedding.quality import racing_target_stacks, separation_margin
from fast_rllib.repository import DEFAULT_REPOSITORY, SourceRepository
from fast_rllib.service import SimilarityService
from fast_rllib.tasks import TASKS


@pytest.fixture(scope="module")
def targets() -> dict:
    return racing_target_stacks(SourceRepository.load(DEFAULT_REPOSITORY, check_modules=False).frame_size)


@pytest.mark.parametrize("modality", ["F", "FT"])
def test_racing_sources_outscore_the_others_for_every_racing_target(targets, modality: str) -> None:
    defaults = FASTConfig()
    service = SimilarityService(
        str(DEFAULT_REPOSITORY), modality=modality, metric=defaults.similarity_metric, text_weight=defaults.text_weight
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
