"""The similarity service: one Ray actor that holds the encoders and every source's embedding rows.

Why an actor: the autoencoder, BERT and the source table are loaded once per cluster instead of once per
trial and EnvRunner, and on a GPU cluster they sit on a (fractional) GPU that several Tune trials share.
Trials find it by name, so only the name needs to travel in an algorithm config (a handle in a config
would be pickled into every checkpoint).

:class:`SimilarityService` is a plain class that also works in-process (tests, notebooks, the latency
benchmark); the actor is :class:`fast_rllib.service_actor.SharedSimilarityService` around it, which batches
the concurrent queries of many trials through the encoders.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from fast_rllib.batching import check_batching
from fast_rllib.embedding.similarity import DEFAULT_METRIC, METRICS, check_metric
from fast_rllib.embedding.task_embedding import (
    DEFAULT_TEXT_WEIGHT,
    MODALITIES,
    SimilarityIndex,
    TaskEmbedder,
    check_modality,
)
from fast_rllib.embedding.text import DEFAULT_POOLING, POOLINGS
from fast_rllib.repository.layout import AUTOENCODER_DIR, DEFAULT_REPOSITORY, OWN_AUTOENCODER
from fast_rllib.repository.loading import SourceTask, autoencoder_choice, load_repository_sources

logger = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "fast_rllib"
DEFAULT_SERVICE_NAME = "fast_similarity_service"
# A quarter of a GPU: the encoders need a few hundred MB, so four trials (or services) can share one.
DEFAULT_GPU_FRACTION = 0.25
# Batching of concurrent queries (fast_rllib/batching.py). No wait: a query that finds the encoders idle
# goes at once, and queries that arrive while a pass runs form the next batch, so batches grow with the
# load and a lone trial pays nothing for them (any wait adds itself to a lone query's round trip:
# benchmarks/service_scale.py, docs/sweeps.md). A batch of 32 FAST queries is 256 stacks.
DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_BATCH_WAIT_S = 0.0


def shipped_autoencoder_dir() -> Path:
    """The autoencoder weights shipped in the wheel, used when sources come from memory, not a repository."""
    return DEFAULT_REPOSITORY / AUTOENCODER_DIR


@dataclass(frozen=True)
class SimilarityServiceSettings:
    """Everything a service needs, as plain picklable values (paths as str)."""

    repository_path: str | None = None
    autoencoder_dir: str | None = None
    text_model_dir: str | None = None
    pooling: str = DEFAULT_POOLING
    modality: str = "F"
    metric: str = DEFAULT_METRIC
    text_weight: float = DEFAULT_TEXT_WEIGHT

    def __post_init__(self) -> None:
        # Absolute paths: the actor may start in another working directory (or on another node of a
        # shared file system), and equal settings must compare equal however a path was spelled.
        for name in ("repository_path", "autoencoder_dir", "text_model_dir"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, str(Path(value).expanduser().absolute()))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "SimilarityServiceSettings":
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown similarity service setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)

    def resolved_autoencoder_dir(self) -> str:
        """``autoencoder_dir``, else the one the repository's index names (its own ``autoencoder`` folder
        unless it says ``"shipped"``, as the shipped discrete zoo of catalogue tasks does), else, with no
        repository, the shipped weights."""
        if self.autoencoder_dir is not None:
            return str(self.autoencoder_dir)
        if self.repository_path is not None and autoencoder_choice(Path(self.repository_path)) == OWN_AUTOENCODER:
            return str(Path(self.repository_path) / AUTOENCODER_DIR)
        return str(shipped_autoencoder_dir())

    def validate(self, needs_repository: bool = True) -> "SimilarityServiceSettings":
        """Raise ValueError / FileNotFoundError naming the first bad setting; returns self for chaining."""
        check_metric(self.metric)
        check_modality(self.modality)
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling={self.pooling!r} is not supported; allowed values: {', '.join(POOLINGS)}")
        if not isinstance(self.text_weight, (int, float)) or not np.isfinite(self.text_weight) or self.text_weight < 0:
            raise ValueError(f"text_weight={self.text_weight!r} must be a finite number >= 0")
        if needs_repository:
            if self.repository_path is None:
                raise ValueError("repository_path is not set: give the source repository directory")
            if not Path(self.repository_path).is_dir():
                raise FileNotFoundError(f"repository_path {self.repository_path!r} is not a directory")
        autoencoder_dir = Path(self.resolved_autoencoder_dir())
        if not autoencoder_dir.is_dir():
            raise FileNotFoundError(
                f"autoencoder_dir {str(autoencoder_dir)!r} is not a directory: train one with "
                "`fast-rllib autoencoder train --out DIR` or point autoencoder_dir at one"
            )
        if self.text_model_dir is not None and not Path(self.text_model_dir).is_dir():
            raise FileNotFoundError(f"text_model_dir {self.text_model_dir!r} is not a directory")
        return self


def _choose_device() -> str:
    """cuda when Ray gave this process a GPU (or, outside Ray, when one is visible), else cpu."""
    import ray
    import torch

    if ray.is_initialized():
        return "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def _node_id() -> str | None:
    """The Ray node this service runs on (None in-process): shows where ``resources`` placed it."""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def _assigned_resources() -> dict[str, float]:
    """What Ray reserved for this actor ({} in-process): shows that no GPU is held on a CPU-only cluster."""
    import ray

    if not ray.is_initialized():
        return {}
    try:
        return dict(ray.get_runtime_context().get_assigned_resources())
    except Exception:  # the driver, outside any task or actor, has no assignment to report
        return {}


class SimilarityService:
    """Embeds every source once at start, then scores targets against them.

    Sources come from ``repository_path`` or, for in-memory use and tests, from ``sources`` directly.
    """

    def __init__(
        self,
        repository_path: str | None = None,
        autoencoder_dir: str | None = None,
        text_model_dir: str | None = None,
        pooling: str = DEFAULT_POOLING,
        modality: str = "F",
        metric: str = DEFAULT_METRIC,
        text_weight: float = DEFAULT_TEXT_WEIGHT,
        *,
        sources: Sequence[SourceTask] | None = None,
    ) -> None:
        if (repository_path is None) == (sources is None):
            raise ValueError("give exactly one of repository_path and sources")
        self._settings = SimilarityServiceSettings(
            repository_path, autoencoder_dir, text_model_dir, pooling, modality, metric, text_weight
        ).validate(needs_repository=sources is None)
        self.device = _choose_device()
        source_list = list(sources) if sources is not None else load_repository_sources(str(repository_path))
        self.index = SimilarityIndex(source_list, self._build_embedder(), metric)  # type: ignore[arg-type]

    @classmethod
    def from_sources(cls, sources: Sequence[SourceTask], **settings: Any) -> "SimilarityService":
        """An in-process service over in-memory sources (no repository on disk needed)."""
        return cls(sources=sources, **settings)

    def _build_embedder(self) -> TaskEmbedder:
        from fast_rllib.embedding.autoencoder import FrameAutoencoder
        from fast_rllib.embedding.text import TextEncoder

        settings = self._settings
        autoencoder = FrameAutoencoder.load(settings.resolved_autoencoder_dir(), device=self.device)
        text_encoder = None
        if settings.modality == "FT":
            text_encoder = TextEncoder(settings.text_model_dir, settings.pooling, device=self.device)  # type: ignore[arg-type]
        return TaskEmbedder(autoencoder, text_encoder, settings.modality, settings.text_weight)  # type: ignore[arg-type]

    def scores(self, target_stacks: np.ndarray, description: str | None = None) -> dict[str, float]:
        """One score per source for uint8 (N, 4, S, S) target stacks (and the description, for FT)."""
        return self.index.scores(target_stacks, description)

    def scores_many(
        self, queries: Sequence[tuple[np.ndarray, str | None]]
    ) -> list[dict[str, float] | TypeError | ValueError]:
        """:meth:`scores` of several (stacks, description) queries in one encoder pass; a bad query gets its
        exception in its place (the shared actor raises it to that query's caller alone)."""
        return self.index.scores_many(queries)

    def source_names(self) -> list[str]:
        return self.index.source_names

    def settings(self) -> dict[str, Any]:
        return asdict(self._settings)

    def info(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "metric": self._settings.metric,
            "modality": self._settings.modality,
            "num_sources": len(self.index.source_names),
            "embedding_dim": self.index.dim,
            "frame_size": self.index.embedder.frame_size,
            "resources": _assigned_resources(),
            "node_id": _node_id(),
            "settings": self.settings(),
        }

    def check_description(self, description: str | None) -> None:
        """Raise ValueError now for a target description that every FT query would reject (empty, or over
        the text model's token limit). F does not use the description, so anything passes there. In FT
        the vector is cached, so the first real query does not pay for it again."""
        if self._settings.modality == "FT":
            self.index.embedder.text_vector(description)  # type: ignore[arg-type]


def _gpu_request(num_gpus: float | None) -> float:
    """The GPU share to ask for: none on a cluster without GPUs, where any request would pend forever."""
    import ray

    cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
    if cluster_gpus <= 0:
        if num_gpus:
            logger.warning("num_gpus=%s asked for the similarity service, but the cluster has no GPU: using CPU", num_gpus)
        return 0.0
    requested = DEFAULT_GPU_FRACTION if num_gpus is None else float(num_gpus)
    if requested < 0:
        raise ValueError(f"num_gpus={num_gpus!r} must be >= 0")
    return requested


def check_resources(resources: Mapping[str, float] | None) -> dict[str, float]:
    """Custom resources as a plain dict, refused by name when Ray would reject them later, inside a
    pending actor (CPU and GPU have their own settings; a negative amount can never be met)."""
    if resources is None:
        return {}
    if not isinstance(resources, Mapping):
        raise TypeError(f"similarity service resources must be a dict of resource name -> amount, got {type(resources).__name__}")
    checked: dict[str, float] = {}
    for name, amount in resources.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"similarity service resource name {name!r} must be a non-empty string")
        if name in ("CPU", "GPU"):
            raise ValueError(
                f"similarity service resource {name!r} is set through similarity_service_num_{name.lower()}s, not resources"
            )
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not np.isfinite(amount) or amount < 0:
            raise ValueError(f"similarity service resource {name!r}={amount!r} must be a finite number >= 0")
        checked[name] = float(amount)
    return checked


def start_similarity_service(
    name: str,
    settings: Mapping[str, Any] | SimilarityServiceSettings,
    *,
    num_gpus: float | None = None,
    num_cpus: float = 0.5,
    namespace: str = DEFAULT_NAMESPACE,
    sources: Sequence[SourceTask] | None = None,
    detached: bool = False,
    resources: Mapping[str, float] | None = None,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    batch_wait_s: float = DEFAULT_BATCH_WAIT_S,
):
    """The named service actor, created on first call and found by name afterwards (several trials share it),
    without waiting for it: :func:`get_or_create_similarity_service` also waits and checks its settings.

    The settings are checked on the caller's side first, so a bad path fails here with its name instead
    of inside a restarting actor; an existing service whose settings differ is an error too (a grid over
    metrics needs one service name per metric). Ray restarts a killed service (``max_restarts=-1``) and
    retries the idempotent queries in flight.

    Lifetime: a non-detached actor dies with the process that created it, and is garbage-collected as
    soon as no handle to it is left, so the creator must keep the returned handle (a later call by name
    would otherwise start, and embed, a new one). For Tune, create it on the driver before
    ``tuner.fit()`` and keep the handle, or pass ``detached=True`` (and ``ray.kill`` it when done).

    ``resources`` (Ray custom resources, e.g. ``{"head": 1}``) pins the service to the nodes that offer
    them: on a cluster, keep it beside the GPU or away from the EnvRunners' nodes. It only applies when
    the actor is created; a service found by name stays where it runs.

    Concurrent queries are answered in batches of at most ``max_batch_size`` (1: each alone), gathered for
    at most ``batch_wait_s`` after the first; like ``resources``, they apply when the actor is created.
    """
    import ray

    # Imported here: the actor's module builds on this one's SimilarityService.
    from fast_rllib.service_actor import SharedSimilarityService

    if not name:
        raise ValueError("the similarity service needs a non-empty actor name")
    if not ray.is_initialized():
        raise RuntimeError("Ray is not initialised: call ray.init() before asking for the similarity service")
    if not isinstance(settings, SimilarityServiceSettings):
        settings = SimilarityServiceSettings.from_mapping(settings)
    settings.validate(needs_repository=sources is None)
    custom_resources = check_resources(resources)
    check_batching(max_batch_size, batch_wait_s)
    if sources is not None and settings.repository_path is not None:
        raise ValueError("give either settings.repository_path or sources, not both")
    options: dict[str, Any] = dict(
        name=name,
        namespace=namespace,
        get_if_exists=True,
        num_cpus=num_cpus,
        num_gpus=_gpu_request(num_gpus),
        max_restarts=-1,
        max_task_retries=3,
    )
    if detached:
        options["lifetime"] = "detached"
    if custom_resources:
        options["resources"] = custom_resources
    return ray.remote(SharedSimilarityService).options(**options).remote(
        name=name, max_batch_size=max_batch_size, batch_wait_s=batch_wait_s, sources=sources, **asdict(settings)
    )


def get_or_create_similarity_service(name: str, settings: Mapping[str, Any] | SimilarityServiceSettings, **options: Any):
    """:func:`start_similarity_service`, then wait for the service and check that it runs with ``settings``."""
    if not isinstance(settings, SimilarityServiceSettings):
        settings = SimilarityServiceSettings.from_mapping(settings)
    handle = start_similarity_service(name, settings, **options)
    check_running_settings(handle, name, settings)
    return handle


def check_running_settings(handle, name: str, settings: SimilarityServiceSettings, timeout_s: float | None = None) -> None:
    """Raise if the service behind ``handle`` runs with other settings than ``settings``.

    The first answer of a new service waits for it to be placed and to embed every source; ``timeout_s``
    bounds that wait (``ray.exceptions.GetTimeoutError``), so that a service the cluster cannot place (a
    GPU share or custom resource no node grants) cannot block its caller.
    """
    import ray

    running = ray.get(handle.settings.remote(), timeout=timeout_s)
    if running != asdict(settings):
        differing = sorted(key for key in running if running[key] != asdict(settings)[key])
        raise ValueError(
            f"a similarity service named {name!r} already runs with other settings ({', '.join(differing)}: "
            f"{ {key: running[key] for key in differing} }); choose another name for these settings"
        )


__all__ = [
    "DEFAULT_BATCH_WAIT_S",
    "DEFAULT_MAX_BATCH_SIZE",
    "DEFAULT_NAMESPACE",
    "DEFAULT_SERVICE_NAME",
    "METRICS",
    "MODALITIES",
    "SimilarityService",
    "SimilarityServiceSettings",
    "check_resources",
    "check_running_settings",
    "get_or_create_similarity_service",
    "shipped_autoencoder_dir",
    "start_similarity_service",
]
