"""Vectorised sum and min trees for prioritised replay.

RLlib's segment trees update and search one index at a time in Python: a priority update of a 256-sample
batch is 256 x log2(capacity) interpreted steps. Here a whole batch moves through the tree level by
level as numpy arrays, so the cost is ~log2(capacity) numpy calls whatever the batch size.
"""

from __future__ import annotations

import numpy as np


class PriorityTrees:
    """A sum tree (for sampling in proportion to priority) and a min tree (for importance weights).

    Leaves live at ``[capacity_pow2, 2 * capacity_pow2)``; node ``i`` has children ``2i`` and ``2i + 1``.
    Unused leaves hold 0 in the sum tree and +inf in the min tree, so they are never sampled and never
    the minimum.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity={capacity!r} must be a positive integer")
        self.leaves = 1 << int(np.ceil(np.log2(capacity)))
        self._sum = np.zeros(2 * self.leaves, dtype=np.float64)
        self._min = np.full(2 * self.leaves, np.inf, dtype=np.float64)

    @property
    def total(self) -> float:
        return float(self._sum[1])

    @property
    def minimum(self) -> float:
        return float(self._min[1])

    def set(self, indices: np.ndarray, values: np.ndarray) -> None:
        """Set leaf values (duplicates: the last one wins) and refresh their ancestors."""
        nodes = np.asarray(indices, dtype=np.int64) + self.leaves
        self._sum[nodes] = values
        self._min[nodes] = values
        nodes = np.unique(nodes >> 1)
        while nodes[0] >= 1:
            left = 2 * nodes
            self._sum[nodes] = self._sum[left] + self._sum[left + 1]
            self._min[nodes] = np.minimum(self._min[left], self._min[left + 1])
            if nodes[0] == 1:
                break
            nodes = np.unique(nodes >> 1)

    def get(self, indices: np.ndarray) -> np.ndarray:
        return self._sum[np.asarray(indices, dtype=np.int64) + self.leaves]

    def find_prefix_sums(self, targets: np.ndarray) -> np.ndarray:
        """For each target in [0, total), the leaf whose cumulative-sum interval contains it."""
        targets = np.array(targets, dtype=np.float64)
        nodes = np.ones(len(targets), dtype=np.int64)
        while nodes[0] < self.leaves:
            left = 2 * nodes
            left_sum = self._sum[left]
            go_right = targets >= left_sum
            targets = np.where(go_right, targets - left_sum, targets)
            nodes = left + go_right
        return nodes - self.leaves
