"""The SAC and DQN settings every driving run shares: sources of the zoo, tuned examples, baselines and
benchmarks.

One place, so that FAST and learning from scratch are always compared with identical settings. The values
are the ones that make real progress on a 2-core machine: 256x256 ReLU networks with learning rates of
3e-4 (the paper's SB3 SAC sizes), one remote EnvRunner stepping 4 envs 8 steps at a time (32 env steps a
sampling round instead of RLlib's one), and one update of 256 transitions per 4 env steps
(benchmarks/update_speed.py and benchmarks/throughput.py measure them). DQN shares all of them; its own
keys are RLlib's defaults except a shorter epsilon schedule (see :func:`racing_dqn_config`).
"""

from __future__ import annotations

from typing import Any, Mapping

from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

from fast_rllib.tasks import get_task
from fast_rllib.tasks.spec import DEFAULT_DURATION_S
from fast_rllib.training.transition_dqn import TransitionDQNConfig
from fast_rllib.training.transition_sac import TransitionSACConfig

UPDATES_PER_ENV_STEP = 0.25
TRAIN_BATCH_SIZE = 256
# DQN explores with epsilon falling from 1 to 0.05 over this many env steps, then 0.05: RLlib's default
# end value, reached in half RLlib's default time, since a driving episode under random steering ends within
# seconds and the benchmark budgets are 20,000 env steps. Chosen before any DQN run, not tuned.
EPSILON_DECAY_STEPS = 5_000


def racing_sac_config(
    task_id: str,
    *,
    env_config: Mapping[str, Any] | None = None,
    seed: int = 0,
    config: TransitionSACConfig | None = None,
    num_env_runners: int = 1,
) -> TransitionSACConfig:
    """The shared settings applied to ``config`` (default: a fresh :class:`TransitionSACConfig`).

    Pass a ``FASTConfig()`` to get FAST with exactly the SAC baseline's settings.
    """
    config = config if config is not None else TransitionSACConfig()
    return _shared_settings(config, task_id, env_config, seed, num_env_runners).training(
        actor_lr=3e-4, critic_lr=3e-4, alpha_lr=3e-4, lr=None
    )


def racing_dqn_config(
    task_id: str,
    *,
    env_config: Mapping[str, Any] | None = None,
    seed: int = 0,
    config: TransitionDQNConfig | None = None,
    num_env_runners: int = 1,
) -> TransitionDQNConfig:
    """The shared settings for DQN on the discrete-steering variant of ``task_id`` (default config: a fresh
    :class:`TransitionDQNConfig`; pass a ``FASTDQNConfig()`` to get FAST on DQN with exactly these settings).

    RLlib's DQN keys keep their defaults (double and dueling Q, hard target copies every 500 env steps,
    prioritised replay replaced by uniform replay as for SAC) except the learning rate, SAC's 3e-4, and the
    epsilon schedule (:data:`EPSILON_DECAY_STEPS`).
    """
    config = config if config is not None else TransitionDQNConfig()
    env_config = {"action_mode": "discrete_steering", **dict(env_config or {})}
    return _shared_settings(config, task_id, env_config, seed, num_env_runners).training(
        lr=3e-4, epsilon=[(0, 1.0), (EPSILON_DECAY_STEPS, 0.05)]
    )


def _shared_settings(config, task_id: str, env_config: Mapping[str, Any] | None, seed: int, num_env_runners: int):
    get_task(task_id)  # a generated or registered id becomes known to Tune, and an unknown one fails here
    return (
        config.environment(task_id, env_config={"duration_s": DEFAULT_DURATION_S, **dict(env_config or {})})
        .env_runners(num_env_runners=num_env_runners, num_envs_per_env_runner=4, rollout_fragment_length=8)
        .training(
            gamma=0.99,
            train_batch_size_per_learner=TRAIN_BATCH_SIZE,
            training_intensity=TRAIN_BATCH_SIZE * UPDATES_PER_ENV_STEP,
            num_steps_sampled_before_learning_starts=1000,
            replay_buffer_config={"type": "EpisodeReplayBuffer", "capacity": 100_000},
            learner_torch_threads=1,
        )
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[256, 256], fcnet_activation="relu"))
        .reporting(min_sample_timesteps_per_iteration=1000, min_time_s_per_iteration=0)
        .debugging(seed=seed)
    )
