"""Training the frame autoencoder: MSE reconstruction, Adam, a held-out split and early stopping.

The report compares the held-out reconstruction error with the mean-frame baseline (predict the average
training stack for every input): a code that cannot beat it carries no information about the task.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fast_rllib.embedding.autoencoder import AutoencoderConfig, FrameAutoencoder, to_unit_interval


@dataclass(frozen=True)
class TrainingReport:
    epochs: int
    best_epoch: int
    train_stacks: int
    validation_stacks: int
    validation_mse: float
    mean_frame_mse: float

    @property
    def improvement_over_mean_frame(self) -> float:
        return self.mean_frame_mse / max(self.validation_mse, 1e-12)


@dataclass(frozen=True)
class TrainingSettings:
    validation_fraction: float = 0.2
    max_epochs: int = 60
    patience: int = 6
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction={self.validation_fraction!r} must lie strictly between 0 and 1")
        for name in ("max_epochs", "patience", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be a positive integer")


def _mse(model: nn.Module, unit_stacks: torch.Tensor, batch_size: int) -> float:
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(unit_stacks), batch_size):
            batch = unit_stacks[start : start + batch_size]
            total += float(((model(batch) - batch) ** 2).sum())
    return total / unit_stacks.numel()


def _start_from_the_mean_grey(model: FrameAutoencoder, mean_grey: float) -> None:
    """Bias the sigmoid output to the data's mean grey level.

    Road frames are almost uniform grey with thin lane lines; from the default 0.5 output the first
    epochs only learn that constant, and at small frame sizes training can stall there.
    """
    output_layer = [layer for layer in model.decoder if isinstance(layer, nn.ConvTranspose2d)][-1]
    mean_grey = min(max(mean_grey, 1e-3), 1 - 1e-3)
    with torch.no_grad():
        output_layer.bias.fill_(float(np.log(mean_grey / (1 - mean_grey))))


def train_autoencoder(
    stacks: np.ndarray,
    config: AutoencoderConfig = AutoencoderConfig(),
    settings: TrainingSettings = TrainingSettings(),
) -> tuple[FrameAutoencoder, TrainingReport]:
    """Train on uint8 (N, 4, H, W) stacks; returns the weights of the best held-out epoch."""
    unit = to_unit_interval(stacks)
    validation_size = max(1, int(round(len(unit) * settings.validation_fraction)))
    if len(unit) - validation_size < 1:
        raise ValueError(f"need at least 2 frame stacks to train and validate, got {len(unit)}")
    generator = torch.Generator().manual_seed(settings.seed)
    order = torch.randperm(len(unit), generator=generator)
    validation, train = unit[order[:validation_size]], unit[order[validation_size:]]
    mean_frame_mse = float(((validation - train.mean(0, keepdim=True)) ** 2).mean())

    torch.manual_seed(settings.seed)
    model = FrameAutoencoder(config)
    _start_from_the_mean_grey(model, float(train.mean()))
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    best_mse, best_epoch, best_state = float("inf"), 0, copy.deepcopy(model.state_dict())
    epoch = 0
    for epoch in range(1, settings.max_epochs + 1):
        model.train()
        for batch_index in torch.randperm(len(train), generator=generator).split(settings.batch_size):
            batch = train[batch_index]
            loss = nn.functional.mse_loss(model(batch), batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        validation_mse = _mse(model, validation, settings.batch_size)
        if validation_mse < best_mse:
            best_mse, best_epoch, best_state = validation_mse, epoch, copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= settings.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    report = TrainingReport(
        epochs=epoch,
        best_epoch=best_epoch,
        train_stacks=len(train),
        validation_stacks=len(validation),
        validation_mse=best_mse,
        mean_frame_mse=mean_frame_mse,
    )
    return model, report
