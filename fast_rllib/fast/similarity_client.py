"""FAST's side of the similarity service: find (or start) the named actor, ask it, never let it stop training.

A query that fails (the actor died, is restarting, or answers later than the timeout) returns None and is
logged; FAST then lets the target policy drive until the next decision. An actor that died with the
process that owned it (a finished Tune trial) is not restarted by Ray, so after such a failure the next
query looks the service up by name again and starts a new one if none is left.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any, Mapping

import numpy as np
import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError, RayTaskError

from fast_rllib.service import (
    SimilarityServiceSettings,
    check_resources,
    check_running_settings,
    start_similarity_service,
)

logger = logging.getLogger(__name__)

# How long setup waits for a new service's first answer (it loads the encoders and embeds every source).
SERVICE_START_TIMEOUT_S = 60.0


def service_name(base_name: str, settings: SimilarityServiceSettings) -> str:
    """One actor per distinct settings: trials of a sweep over Θ and K share one, a sweep over metrics
    gets one per metric instead of a conflict."""
    digest = hashlib.sha1(json.dumps(settings.__dict__, sort_keys=True).encode()).hexdigest()[:10]
    return f"{base_name}-{digest}"


def named_settings(base_name: str, settings: Mapping[str, Any]) -> tuple[str, SimilarityServiceSettings]:
    """(actor name, checked settings) of the service for ``settings``: what a trial asks for, and what a
    sweep's driver starts for it."""
    checked = SimilarityServiceSettings.from_mapping(settings).validate()
    return service_name(base_name, checked), checked


class SimilarityClient:
    """One trial's connection to the shared service; ``client_id`` (the trial's name) is how the service
    counts this trial's requests."""

    def __init__(
        self,
        base_name: str,
        settings: Mapping[str, Any],
        *,
        client_id: str,
        num_gpus: float | None,
        num_cpus: float,
        timeout_s: float,
        resources: Mapping[str, float] | None = None,
    ) -> None:
        self.name, self.settings = named_settings(base_name, settings)
        self.client_id = client_id
        self._num_gpus, self._num_cpus, self._timeout_s = num_gpus, num_cpus, timeout_s
        self._resources = check_resources(resources)
        self._handle = None
        self._checked = False
        self._start_waited = False

    def _service(self, timeout_s: float | None = None):
        """The service handle, started (never waited for) on first use; its settings are checked once,
        waiting at most ``timeout_s`` (None: no limit), so that an unplaceable service fails the call that
        asked instead of blocking it."""
        if self._handle is None:
            self._handle = start_similarity_service(
                self.name, self.settings, num_gpus=self._num_gpus, num_cpus=self._num_cpus, resources=self._resources
            )
            self._checked = False
        if not self._checked:
            if not self._start_waited and timeout_s is not None:
                # The first answer of a service includes its start (encoders, every source embedded): it
                # gets SERVICE_START_TIMEOUT_S once; a service that has not answered by then (one the
                # cluster cannot place) only gets each call's own timeout afterwards.
                timeout_s = max(timeout_s, SERVICE_START_TIMEOUT_S)
            self._start_waited = True
            check_running_settings(self._handle, self.name, self.settings, timeout_s=timeout_s)
            self._checked = True
        return self._handle

    def check_description(self, description: str) -> None:
        """Ask the service once, before training, whether it can embed ``description``.

        A description it rejects (FT: empty or over the text model's token limit) would make every query
        fail, and :meth:`scores` turns failures into "the target drives": the run would silently never
        transfer. A service that is merely unavailable is not an error here (queries fall back later).
        """
        timeout_s = max(self._timeout_s, SERVICE_START_TIMEOUT_S)
        try:
            ray.get(self._service(timeout_s).check_description.remote(description), timeout=timeout_s)
        except RayTaskError as error:
            if isinstance(error.cause, (TypeError, ValueError)):
                raise ValueError(f"target_description cannot be used by similarity service {self.name}: {error.cause}") from None
            logger.warning("similarity service %s could not check the target description (%s)", self.name, error)
        except RayError as error:
            logger.warning("similarity service %s could not check the target description (%s)", self.name, error)

    def scores(self, stacks: np.ndarray, description: str) -> tuple[dict[str, float] | None, float | None]:
        """(scores, latency in ms), or (None, None) when the service could not answer in time."""
        try:
            service = self._service(self._timeout_s)
            start = time.perf_counter()
            scores = ray.get(service.scores.remote(stacks, description, client=self.client_id), timeout=self._timeout_s)
        except GetTimeoutError:
            logger.warning("similarity service %s gave no answer within %.1f s: the target drives", self.name, self._timeout_s)
            return None, None
        except RayError as error:
            logger.warning("similarity service %s failed (%s): the target drives", self.name, error)
            if isinstance(error, RayActorError):
                self._handle = None
            return None, None
        return scores, (time.perf_counter() - start) * 1000
