"""A plain concat-MLP Q network for RLlib's SAC module: ``Q(s, a) = MLP([s, a])``.

RLlib 2.60's SAC builds each continuous Q network as a multi-stream encoder: an MLP over the observation,
another over the action, then fusion layers with skip connections (512->256, 768->256, 768->256) before
the head. That is about three times the arithmetic of the two-hidden-layer Q network of the paper's
Stable-Baselines3 SAC, CleanRL and RLlib's own old API stack, and SAC evaluates six Q passes per update.
This catalog keeps ``DefaultSACTorchRLModule`` (loss, learner, target networks, checkpoint format and
the policy network are untouched) and only swaps the Q encoders for ``fcnet_hiddens`` layers over the
concatenated observation and action (optionally layer-normalised). The policy (pi) network, which is all
that EnvRunners and frozen FAST sources carry, is identical under every catalog here.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import torch
from ray.rllib.algorithms.sac.sac_catalog import SACCatalog
from ray.rllib.core.columns import Columns
from ray.rllib.core.models.base import ENCODER_OUT, Encoder
from ray.rllib.core.models.configs import MLPEncoderConfig
from ray.rllib.core.models.torch.encoder import TorchMLPEncoder


class ConcatMLPEncoder(TorchMLPEncoder):
    """Encodes ``{obs, actions}`` by running one MLP over their concatenation."""

    def _forward(self, inputs: dict, **kwargs) -> dict:
        return {ENCODER_OUT: self.net(torch.cat([inputs[Columns.OBS], inputs[Columns.ACTIONS]], dim=-1))}


@dataclasses.dataclass
class ConcatMLPEncoderConfig(MLPEncoderConfig):
    def build(self, framework: str = "torch") -> Encoder:
        if framework != "torch":
            raise ValueError(f"framework={framework!r} is not supported by the concat-MLP Q network; allowed values: torch")
        return ConcatMLPEncoder(self)


class ConcatQSACCatalog(SACCatalog):
    """SAC catalog whose continuous Q networks are concat MLPs of ``fcnet_hiddens`` / ``fcnet_activation``."""

    q_layer_norm = False

    def _build_qf_encoder_continuous(self, framework: str) -> Encoder:
        observation_dim = int(gym.spaces.flatdim(self.observation_space))
        action_dim = int(gym.spaces.flatdim(self.action_space))
        self.qf_encoder_config = ConcatMLPEncoderConfig(
            input_dims=[observation_dim + action_dim],
            hidden_layer_dims=self._model_config_dict["fcnet_hiddens"],
            hidden_layer_activation=self._model_config_dict["fcnet_activation"],
            hidden_layer_weights_initializer=self._model_config_dict["fcnet_kernel_initializer"],
            hidden_layer_weights_initializer_config=self._model_config_dict["fcnet_kernel_initializer_kwargs"],
            hidden_layer_bias_initializer=self._model_config_dict["fcnet_bias_initializer"],
            hidden_layer_bias_initializer_config=self._model_config_dict["fcnet_bias_initializer_kwargs"],
            hidden_layer_use_layernorm=self.q_layer_norm,
        )
        return self.qf_encoder_config.build(framework=framework)


class LayerNormConcatQSACCatalog(ConcatQSACCatalog):
    """The same concat-MLP Q networks with layer normalisation after each hidden layer (RLPD, Ball et al.
    2023): Q values stay bounded on actions the replayed data never showed, so an actor that follows the
    critic's gradient there (a student released from its teacher, say) is not drawn to over-estimates."""

    q_layer_norm = True
