"""Where the default rule's candidate scores come from: likeness alone, or likeness and measured transfer.

The default rule (:mod:`.return_bandit`) proposes candidates, and the order it tries them in, from one
score per source. FAST's paper takes likeness: the similarity service's score of the target's frames and
text against each source's. Likeness alone ranks the zoo's sources at about chance against how well they
drive a new track. Each source's transfer record (its zero-shot return share of the lane follower on
reference tracks, stored in its source.json by ``fast-rllib repo measure-transfer``) ranks them well on
tracks it was never measured on, and likeness adds what the record cannot know: a target that looks like
one source's own task. The transferability score is the record plus ``SIMILARITY_WEIGHT`` times the
similarity score, the least-squares fit of the zero-shot share on the transfer table's fit split
(``benchmarks/transferability.py``, ``benchmarks/results/transferability/summary.md``). The rule only
compares scores within a decision, so the fit's scale and intercept do not matter, only this ratio.
"""

from __future__ import annotations

from typing import Literal, Mapping, get_args

from fast_rllib.repository import SourceRepository

CandidateScore = Literal["similarity", "transferability"]
CANDIDATE_SCORES: tuple[str, ...] = get_args(CandidateScore)
# Weight of the similarity score against the transfer record, fitted on the fit split with FT scores and the
# default metric (benchmarks/results/transferability/weights.json); a test checks the two agree.
SIMILARITY_WEIGHT = 0.29


def transfer_records(repository: SourceRepository) -> dict[str, float] | None:
    """Each source's transfer record (its zero-shot share of the lane follower on the reference tracks), or
    None when some source has none: records of some sources cannot be compared with likeness of others, so
    the whole decision falls back to likeness (:func:`missing_records_warning` says why)."""
    records = {entry.name: entry.transfer_record for entry in repository}
    if any(record is None for record in records.values()):
        return None
    return {name: record.share_of_lane_follower for name, record in records.items()}


def missing_records_warning(repository: SourceRepository) -> str:
    """What a user reads when transferability falls back to likeness: which entries, and the fix."""
    missing = [entry.name for entry in repository if entry.transfer_record is None]
    return (
        f"candidate_score='transferability' scores by likeness alone: {missing} in {repository.path} have no "
        f"transfer record; run `fast-rllib repo measure-transfer --repository {repository.path}` to rank "
        "candidates by what each source was measured to drive"
    )


def transferability_scores(similarity: Mapping[str, float], records: Mapping[str, float]) -> dict[str, float]:
    """Record plus ``SIMILARITY_WEIGHT`` times similarity, for every source the service scored."""
    return {name: records[name] + SIMILARITY_WEIGHT * score for name, score in similarity.items()}
