"""The frame autoencoder whose code is a task's visual embedding.

Architecture after the paper (three 5x5 convolutions of stride 3, 4 -> 64 -> 128 -> 128 channels, a
linear layer to a 128-d code with ReLU, a mirrored decoder ending in a sigmoid), sized for our square
frame resolution instead of the paper's 600 px. Input is always a uint8 (N, 4, H, W) stack from
:mod:`fast_rllib.tasks.frames`; :func:`to_unit_interval` is the one place that scales it, for training
and for use alike (the paper's released code fed raw 0..255 frames at query time).
"""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from fast_rllib.atomic_write import write_atomically, write_json_atomically
from fast_rllib.tasks.frames import STACK_LENGTH, check_frame_size

_KERNEL, _STRIDE, _PADDING = 5, 3, 1
_CHANNELS = (STACK_LENGTH, 64, 128, 128)
WEIGHTS_FILE = "autoencoder.pt"
# Stacks per convolution pass on the CPU: one FAST window. There a stack costs no less in a bigger pass,
# and far more once the activations outgrow the caches, so a batch of queries goes through in chunks of
# this size; on a GPU one pass takes them all. Set from benchmarks/encoder_batch.py on catalogue frames
# (benchmarks/results/encoder_batch.json).
CPU_STACKS_PER_PASS = 8
CONFIG_FILE = "autoencoder.json"


@dataclass(frozen=True)
class AutoencoderConfig:
    frame_size: int = 96
    code_dim: int = 128

    def __post_init__(self) -> None:
        check_frame_size(self.frame_size)
        if self.code_dim < 1:
            raise ValueError(f"code_dim={self.code_dim!r} must be a positive integer")


def _conv_sizes(frame_size: int) -> list[int]:
    sizes = [frame_size]
    for _ in range(len(_CHANNELS) - 1):
        sizes.append((sizes[-1] + 2 * _PADDING - _KERNEL) // _STRIDE + 1)
    return sizes


def to_unit_interval(stacks: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float32 0..1, rejecting anything that is not a (N, 4, H, W) uint8 stack batch."""
    tensor = torch.as_tensor(stacks)
    if tensor.dtype != torch.uint8 or tensor.ndim != 4 or tensor.shape[1] != STACK_LENGTH:
        raise ValueError(
            f"expected uint8 frame stacks of shape (N, {STACK_LENGTH}, H, W), got {tuple(tensor.shape)} {tensor.dtype}"
        )
    return tensor.float().div_(255.0)


class FrameAutoencoder(nn.Module):
    def __init__(self, config: AutoencoderConfig = AutoencoderConfig()) -> None:
        super().__init__()
        self.config = config
        sizes = _conv_sizes(config.frame_size)
        if sizes[-1] < 1:
            raise ValueError(f"frame_size={config.frame_size} is too small for three stride-3 convolutions")
        self._bottleneck = (_CHANNELS[-1], sizes[-1], sizes[-1])
        flat = int(np.prod(self._bottleneck))

        encoder: list[nn.Module] = []
        for c_in, c_out in zip(_CHANNELS[:-1], _CHANNELS[1:]):
            encoder += [nn.Conv2d(c_in, c_out, _KERNEL, _STRIDE, _PADDING), nn.ReLU()]
        self.encoder = nn.Sequential(*encoder, nn.Flatten(), nn.Linear(flat, config.code_dim), nn.ReLU())

        decoder: list[nn.Module] = [nn.Linear(config.code_dim, flat), nn.ReLU(), nn.Unflatten(1, self._bottleneck)]
        reversed_channels = _CHANNELS[::-1]
        reversed_sizes = sizes[::-1]
        for index, (c_in, c_out) in enumerate(zip(reversed_channels[:-1], reversed_channels[1:])):
            natural = (reversed_sizes[index] - 1) * _STRIDE - 2 * _PADDING + _KERNEL
            output_padding = reversed_sizes[index + 1] - natural
            decoder.append(nn.ConvTranspose2d(c_in, c_out, _KERNEL, _STRIDE, _PADDING, output_padding=output_padding))
            decoder.append(nn.ReLU() if c_out != STACK_LENGTH else nn.Sigmoid())
        self.decoder = nn.Sequential(*decoder)

    def forward(self, unit_stacks: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(unit_stacks))

    def encode(self, stacks: np.ndarray) -> np.ndarray:
        """uint8 (N, 4, H, W) stacks -> float32 (N, code_dim) codes."""
        return self.encode_many([stacks])[0]

    @torch.no_grad()
    def encode_many(self, stack_groups: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each group's codes, with one convolution pass over every group's stacks.

        The code layer runs once per group: a matrix product's rounding depends on how many rows it has
        (one row takes another kernel than many), while each stack's convolutions do not depend on what
        else is in the batch on CPU. So every group's codes are bit for bit those :meth:`encode` gives it
        alone, and the shared service's batched answers equal its one-at-a-time answers. On the CPU the
        convolutions run over at most ``CPU_STACKS_PER_PASS`` stacks at a time, which changes no value.
        """
        units = [to_unit_interval(stacks) for stacks in stack_groups]
        for unit in units:
            if unit.shape[-2:] != (self.config.frame_size, self.config.frame_size):
                raise ValueError(
                    f"frame stacks are {tuple(unit.shape[-2:])} pixels but this autoencoder was built for "
                    f"{self.config.frame_size}x{self.config.frame_size}"
                )
        device = next(self.parameters()).device
        trunk, code_layer = self.encoder[:-2], self.encoder[-2:]
        stacks = torch.cat(units).to(device)
        chunk = CPU_STACKS_PER_PASS if device.type == "cpu" else len(stacks)
        features = torch.cat([trunk(part) for part in torch.split(stacks, chunk)])
        return [code_layer(part).cpu().numpy() for part in torch.split(features, [len(unit) for unit in units])]

    def save(self, directory: str | Path) -> None:
        """Write weights and config beside each other, each atomically."""
        directory = Path(directory)
        weights = {name: tensor.cpu() for name, tensor in self.state_dict().items()}
        write_atomically(directory / WEIGHTS_FILE, lambda temporary: torch.save(weights, temporary))
        write_json_atomically(directory / CONFIG_FILE, asdict(self.config))

    @classmethod
    def load(cls, directory: str | Path, device: str = "cpu") -> "FrameAutoencoder":
        directory = Path(directory)
        for name in (WEIGHTS_FILE, CONFIG_FILE):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"autoencoder directory {str(directory)!r} has no {name}")
        try:
            model = cls(AutoencoderConfig(**json.loads((directory / CONFIG_FILE).read_text())))
        except (OSError, TypeError, ValueError) as error:
            raise ValueError(f"{CONFIG_FILE} in {str(directory)!r} is unreadable ({type(error).__name__}: {error})") from None
        try:
            weights = torch.load(directory / WEIGHTS_FILE, map_location=device, weights_only=True)
            model.load_state_dict(weights)
        except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as error:
            # A truncated file fails inside torch's zip reader with a message that names no file.
            reason = " ".join(str(error).split())[:200]
            raise ValueError(f"{WEIGHTS_FILE} in {str(directory)!r} is unreadable ({type(error).__name__}: {reason})") from None
        return model.to(device).eval()
