"""FAST's live figures for the Ray dashboard (Prometheus, through ``ray.util.metrics``).

RLlib's own metrics reach Tune and TensorBoard once per iteration; these reach the dashboard's Metrics
view (and any Prometheus/Grafana attached to the cluster) as they happen, tagged by trial, so a sweep can
be watched while it runs: which source drives, how similar it looks, how often FAST switches, and how
long the similarity service takes to answer.
"""

from __future__ import annotations

from typing import Mapping

from ray.util import metrics

from fast_rllib.service_metrics import LATENCY_BOUNDARIES_MS


class FastTelemetry:
    def __init__(self, trial: str) -> None:
        self.trial = trial
        self._tags = {"trial": trial}
        self._score = metrics.Gauge(
            "fast_similarity_score", "Latest similarity score of each source", tag_keys=("trial", "source")
        )
        self._following = metrics.Gauge(
            "fast_following_source", "1 while a frozen source drives the EnvRunners, else 0", tag_keys=("trial",)
        )
        self._switches = metrics.Counter(
            "fast_behaviour_switches", "Changes of the policy that drives the EnvRunners", tag_keys=("trial",)
        )
        self._latency = metrics.Histogram(
            "fast_similarity_latency_ms",
            "Round trip of one similarity query to the service",
            boundaries=LATENCY_BOUNDARIES_MS,
            tag_keys=("trial",),
        )
        self._failures = metrics.Counter(
            "fast_similarity_failures", "Similarity queries that failed or timed out", tag_keys=("trial",)
        )

    def decision(self, scores: Mapping[str, float] | None, following_source: bool, switched: bool) -> None:
        for source, score in (scores or {}).items():
            self._score.set(score, tags={**self._tags, "source": source})
        self._following.set(1.0 if following_source else 0.0, tags=self._tags)
        if switched:
            self._switches.inc(1.0, tags=self._tags)

    def query(self, latency_ms: float | None) -> None:
        if latency_ms is None:
            self._failures.inc(1.0, tags=self._tags)
        else:
            self._latency.observe(latency_ms, tags=self._tags)
