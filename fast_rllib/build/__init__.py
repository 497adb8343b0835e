"""Offline building, done before any training run: training source policies, recording their frames into a
repository, collecting frame stacks, training the frame autoencoder and evaluating policies.

Nothing that runs inside a FAST training run (:mod:`fast_rllib.fast`, :mod:`fast_rllib.training`,
:mod:`fast_rllib.service`) imports this package; ``tests/test_layout.py`` keeps it that way.
"""
