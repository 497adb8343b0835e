"""TransitionSAC: the fast replay path computes RLlib's SAC loss exactly (and DQN's, for TransitionDQN),
trains, and checkpoints as SAC does."""

from __future__ import annotations

import numpy as np
import pytest
import ray
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.replay_buffers.episode_replay_buffer import EpisodeReplayBuffer

from fast_rllib.tasks import make_task_env
from fast_rllib.training import TransitionSAC, TransitionSACConfig
from fast_rllib.training.settings import racing_dqn_config, racing_sac_config
from fast_rllib.training.replay import TransitionReplayBuffer

TASK = "fast/racetrack-v0"


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def small_config(*, dqn: bool = False, **training: object) -> TransitionSACConfig:
    """The shared racing settings (``dqn``: DQN's, discrete steering), shrunk: 32x32 nets, batches of 32, one
    update per 4 env steps."""
    shared_settings = racing_dqn_config if dqn else racing_sac_config
    return (
        shared_settings(TASK, env_config={"duration_s": 10.0})
        .env_runners(num_envs_per_env_runner=2)
        .training(
            train_batch_size_per_learner=32,
            num_steps_sampled_before_learning_starts=64,
            training_intensity=8,
            **training,
        )
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[32, 32], fcnet_activation="relu"))
        .reporting(min_sample_timesteps_per_iteration=64)
    )


def _random_episodes(count: int, seed: int, action_mode: str = "steering") -> list[SingleAgentEpisode]:
    """Short episodes of the task with random actions, recorded as an EnvRunner would."""
    env = make_task_env(TASK, duration_s=6.0, action_mode=action_mode)
    env.action_space.seed(seed)
    episodes = []
    for index in range(count):
        observation, _ = env.reset(seed=seed + index)
        episode = SingleAgentEpisode(observations=[observation])
        while not episode.is_done:
            action = env.action_space.sample()
            observation, reward, terminated, truncated, _ = env.step(action)
            episode.add_env_step(observation, action, float(reward), terminated=terminated, truncated=truncated)
        episodes.append(episode.to_numpy())
    env.close()
    return episodes


def _losses(learner, batch: dict) -> float:
    module = learner.module[DEFAULT_MODULE_ID]
    torch.manual_seed(0)
    fwd_out = module.forward_train(batch)
    return float(learner.compute_losses(fwd_out={DEFAULT_MODULE_ID: fwd_out}, batch={DEFAULT_MODULE_ID: batch})[DEFAULT_MODULE_ID])


@pytest.fixture(scope="module")
def trained(ray_session):
    algo = small_config().build_algo()
    for _ in range(3):
        result = algo.train()
    yield algo, result
    algo.stop()


@pytest.fixture
def trained_dqn(ray_session):
    """Stopped after its test: the session's 2 CPUs hold SAC's module-wide run and one more."""
    algo = small_config(dqn=True).build_algo()
    algo.train()
    yield algo
    algo.stop()


@pytest.mark.parametrize("algorithm", ["sac", "dqn"])
def test_fast_batch_gives_the_stock_pipelines_loss(algorithm: str, request) -> None:
    """The same transitions through RLlib's learner connector and through our buffer: the same SAC (DQN)
    loss; DQN's actions are integers."""
    algo = request.getfixturevalue("trained")[0] if algorithm == "sac" else request.getfixturevalue("trained_dqn")
    learner = algo.learner_group._learner
    discrete = algorithm == "dqn"
    episodes = _random_episodes(count=3, seed=0, action_mode="discrete_steering" if discrete else "steering")
    stock = EpisodeReplayBuffer(capacity=1000)
    stock.add(episodes)
    one_step = stock.sample(num_items=48, n_step=1, gamma=algo.config.gamma, sample_episodes=True)
    stock_batch = learner._learner_connector(
        rl_module=learner.module, batch={}, episodes=one_step, shared_data={}, metrics=learner.metrics
    )[DEFAULT_MODULE_ID]

    ours = TransitionReplayBuffer(100, 45, 1, discrete_actions=discrete, n_step=1, gamma=algo.config.gamma)
    ours.add_episodes(one_step)
    fast_batch = {key: torch.from_numpy(value) for key, value in ours.gather(np.arange(len(one_step))).items()}

    for key in fast_batch:
        torch.testing.assert_close(fast_batch[key], stock_batch[key].to(fast_batch[key].dtype), msg=key)
    assert _losses(learner, fast_batch) == pytest.approx(_losses(learner, stock_batch), rel=1e-6)


def test_trains_with_the_transition_buffer(trained) -> None:
    algo, result = trained
    assert result["num_env_steps_sampled_lifetime"] >= 192
    assert len(algo.transition_buffer) >= 150
    assert algo.local_replay_buffer is None
    learner_stats = result["learners"][DEFAULT_MODULE_ID]
    assert np.isfinite(learner_stats["qf_loss"]) and learner_stats["num_module_steps_trained"] > 0


def test_replay_ratio_is_exact(trained) -> None:
    """training_intensity=8 with batches of 32: one update per 4 sampled env steps after the warm-up."""
    algo, result = trained
    trained_steps = result["learners"][DEFAULT_MODULE_ID]["num_module_steps_trained_lifetime"]
    sampled_after_warmup = result["num_env_steps_sampled_lifetime"] - 64
    assert trained_steps / 32 == pytest.approx(sampled_after_warmup / 4, abs=8)


def test_checkpoint_round_trip_keeps_the_policy(trained, tmp_path) -> None:
    algo, _ = trained
    algo.save_to_path(tmp_path)
    module = RLModule.from_checkpoint(tmp_path / "learner_group" / "learner" / "rl_module" / DEFAULT_MODULE_ID)
    original = algo.learner_group._learner.module[DEFAULT_MODULE_ID]
    observations = torch.randn(5, 45)
    with torch.no_grad():
        expected = original.forward_inference({"obs": observations})["action_dist_inputs"]
        restored = module.forward_inference({"obs": observations})["action_dist_inputs"]
    torch.testing.assert_close(restored, expected)
    assert type(TransitionSAC.from_checkpoint(tmp_path).config) is TransitionSACConfig


def test_q_network_is_a_concat_mlp_by_default(trained) -> None:
    module = trained[0].learner_group._learner.module[DEFAULT_MODULE_ID]
    first_layer = module.qf_encoder.net.mlp[0]
    assert first_layer.in_features == 45 + 1


def _built_module(config: TransitionSACConfig) -> RLModule:
    env = make_task_env(TASK)
    spec = config.get_rl_module_spec(spaces={DEFAULT_MODULE_ID: (env.observation_space, env.action_space)})
    env.close()
    return spec.build()


def test_the_layernorm_q_network_normalises_the_critic_and_leaves_the_policy_as_sources_store_it() -> None:
    plain, normalised = (_built_module(small_config(q_network=name)) for name in ("concat_mlp", "concat_mlp_layernorm"))
    layer_norms = [layer for layer in normalised.qf_encoder.net.mlp if isinstance(layer, torch.nn.LayerNorm)]
    assert len(layer_norms) == 2 and not any(isinstance(layer, torch.nn.LayerNorm) for layer in plain.qf_encoder.net.mlp)
    plain_policy, normalised_policy = (
        {key: value.shape for key, value in module.get_state(inference_only=True).items()} for module in (plain, normalised)
    )
    assert plain_policy and normalised_policy == plain_policy


@pytest.mark.parametrize(
    ("training", "message"),
    [
        ({"q_network": "resnet"}, "q_network='resnet' is not supported; allowed values: concat_mlp, concat_mlp_layernorm, multi_stream"),
        ({"n_step": (1, 3)}, r"n_step=\(1, 3\) is not supported with transition_replay=True"),
        ({"learner_torch_threads": 0}, "learner_torch_threads=0 must be None or an integer >= 1"),
    ],
)
def test_bad_settings_are_named(training: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        small_config(**training).validate()
