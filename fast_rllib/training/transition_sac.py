"""RLlib SAC on the transition replay path (:mod:`fast_rllib.training.transition_replay`), with a choice of
Q network.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.sac import SAC, SACConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from fast_rllib.training.q_network import ConcatQSACCatalog, LayerNormConcatQSACCatalog
from fast_rllib.training.transition_replay import TransitionReplay, TransitionReplayConfig

QNetwork = Literal["concat_mlp", "concat_mlp_layernorm", "multi_stream"]
Q_NETWORKS: tuple[str, ...] = get_args(QNetwork)
CONCAT_CATALOGS = {"concat_mlp": ConcatQSACCatalog, "concat_mlp_layernorm": LayerNormConcatQSACCatalog}


class TransitionSACConfig(TransitionReplayConfig, SACConfig):
    """``SACConfig`` plus the transition replay keys (see :class:`TransitionReplayConfig`) and one of its
    own, set through :meth:`training`:

    - ``q_network`` (default ``"concat_mlp"``): ``"concat_mlp"`` is ``MLP([obs, action])`` with
      ``fcnet_hiddens`` (the paper's SB3 SAC, CleanRL); ``"concat_mlp_layernorm"`` the same with layer
      normalisation after each hidden layer (RLPD); ``"multi_stream"`` is RLlib 2.60's default.
    """

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or TransitionSAC)
        self.q_network: QNetwork = "concat_mlp"

    def training(self, *, q_network: QNetwork = NotProvided, **kwargs: Any) -> "TransitionSACConfig":
        super().training(**kwargs)
        if q_network is not NotProvided:
            self.q_network = q_network
        return self

    def get_default_rl_module_spec(self) -> RLModuleSpec:
        spec = super().get_default_rl_module_spec()
        if self.q_network in CONCAT_CATALOGS:
            spec.catalog_class = CONCAT_CATALOGS[self.q_network]
        return spec

    def validate(self) -> None:
        super().validate()
        if self.q_network not in Q_NETWORKS:
            self._value_error(f"q_network={self.q_network!r} is not supported; allowed values: {', '.join(Q_NETWORKS)}")


class TransitionSAC(TransitionReplay, SAC):
    """SAC whose ``training_step`` replays transitions from numpy arrays."""

    config: TransitionSACConfig

    @classmethod
    def get_default_config(cls) -> TransitionSACConfig:
        return TransitionSACConfig()
