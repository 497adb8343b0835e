"""Pictures of frame stacks, for people: the CLI demo, the README and debugging similarity scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fast_rllib.atomic_write import write_atomically


def save_frame_stack_png(stack: np.ndarray, path: str | Path, title: str = "") -> None:
    """Save a (4, H, W) uint8 stack side by side, oldest frame on the left, on a fixed 0..255 scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(stack), figsize=(2.2 * len(stack), 2.6))
    for index, (axis, frame) in enumerate(zip(axes, stack)):
        axis.imshow(frame, cmap="gray", vmin=0, vmax=255)
        axis.set_title(f"t-{len(stack) - 1 - index}", fontsize=9)
        axis.axis("off")
    if title:
        figure.suptitle(title, fontsize=10)
    save_figure(figure, path)


def save_figure(figure, path: str | Path, dpi: int = 100) -> None:
    """Write a matplotlib figure as a PNG atomically (a reader never sees half a file) and close it."""
    import matplotlib.pyplot as plt

    try:
        write_atomically(path, lambda temporary: figure.savefig(temporary, dpi=dpi, bbox_inches="tight", format="png"))
    finally:
        plt.close(figure)
