"""A harmful look-alike: FAST's default rule must stop using it within one evaluation window, and
distillation must not pull the target toward it once its returns fall below the target's.

The look-alike is a copy of the zoo's best driver of Indiana, ``chicane-v0``, with its steering output
negated: same frames, same description, so the similarity service scores it exactly as the original.
Only the returns it earns on the target can tell them apart.
"""

from __future__ import annotations

import shutil

import pytest

from fast_rllib import FASTConfig, SourceRepository
from fast_rllib.fast.selection import TARGET
from fast_rllib.repository import DEFAULT_REPOSITORY, write_entry
from fast_rllib.repository.layout import AUTOENCODER_DIR
from fast_rllib.training.settings import racing_sac_config

pytestmark = pytest.mark.slow
GOOD, HARMFUL = "chicane-v0", "chicane-mirrored-v0"
INTERVAL = 500
EVALUATION_WINDOW = 2000
# Copied unchanged from the original entry; the rest of source.json is derived when written.
COPIED_INFO = ("task_id", "task_config", "description", "training_env_steps", "evaluation_return",
               "controller_return", "random_return", "evaluation_seeds", "evaluation_returns")


def _steering_negated(module) -> None:
    """The policy head's first output is the steering mean: negate its weights and bias."""
    state = module.get_state()
    for key in ("pi.net.mlp.0.weight", "pi.net.mlp.0.bias"):
        state[key] = state[key].copy()
        state[key][0] = -state[key][0]
    module.set_state(state)


@pytest.fixture(scope="module")
def look_alike_repository(tmp_path_factory):
    root = tmp_path_factory.mktemp("look_alike")
    shutil.copytree(DEFAULT_REPOSITORY / AUTOENCODER_DIR, root / AUTOENCODER_DIR)
    good = SourceRepository.load(DEFAULT_REPOSITORY)[GOOD]
    info = {key: good.info[key] for key in COPIED_INFO if key in good.info}
    for name, harmful in ((GOOD, False), (HARMFUL, True)):
        module = good.load_module()
        if harmful:
            _steering_negated(module)
        write_entry(root, name, module=module, frames=good.frames.copy(), episode_returns=good.episode_returns.copy(), info=info)
    return root


def test_fast_drops_a_harmful_look_alike_within_one_evaluation_window(look_alike_repository, ray_session) -> None:
    config = (
        racing_sac_config("fast/indiana-v0", config=FASTConfig())
        .training(repository_path=str(look_alike_repository), similarity_interval=INTERVAL, distillation=True)
        .reporting(min_sample_timesteps_per_iteration=INTERVAL)
    )
    algo = config.build_algo()
    try:
        steps, harmful_drove, good_drove = 0, [], []
        while steps < 7 * INTERVAL:
            result = algo.train()
            steps = result["num_env_steps_sampled_lifetime"]
            harmful_drove.append(result["fast"]["env_steps"].get(HARMFUL, 0))
            good_drove.append(result["fast"]["env_steps"].get(GOOD, 0))
        scores = algo.selector.state.scores
        assert scores[GOOD] == pytest.approx(scores[HARMFUL])
        assert 0 < harmful_drove[-1] <= EVALUATION_WINDOW, harmful_drove
        assert harmful_drove[-1] == harmful_drove[-2] == harmful_drove[-3], harmful_drove  # never again
        assert good_drove[-1] > good_drove[-3], good_drove  # the good source drives afterwards
        env_steps = result["fast"]["env_steps"]
        assert env_steps[GOOD] > env_steps[HARMFUL] and env_steps.get(TARGET, 0) > 0
        assert HARMFUL in algo.selector.state.retired
        distillation = result["fast"]["distillation"]
        assert distillation["source_weight"][HARMFUL] == 0.0 and distillation["teacher"][HARMFUL] == 0.0
        assert algo.learner_group._learner.teacher_name != HARMFUL
    finally:
        algo.stop()
