"""Where the default rule's candidate scores come from: likeness, or each source's measured transfer.

The default rule (:mod:`.return_bandit`) proposes candidates and the order it tries them in from one
score per source. FAST's paper takes likeness (the similarity service's cosine of frames and text), but
likeness ranks the zoo's sources at about chance against how well they drive a new track, while each
source's transfer record (its zero-shot return share on reference tracks, stored in its source.json by
``fast-rllib repo measure-transfer``) ranks them well on tracks it was never measured on
(``benchmarks/transferability.py``, ``benchmarks/results/transferability/summary.md``). With records a
decision needs no query at all: the records are read once, when FAST starts.
"""

from __future__ import annotations

from typing import Literal, get_args

from fast_rllib.repository import RepositoryError, SourceRepository

CandidateScore = Literal["similarity", "transfer_record"]
CANDIDATE_SCORES: tuple[str, ...] = get_args(CandidateScore)


def transfer_record_scores(repository: SourceRepository) -> dict[str, float]:
    """Each source's transfer record, as the score the rule orders candidates by.

    Raises:
        RepositoryError: naming every entry that has no record, and the command that measures one.
    """
    records = {entry.name: entry.transfer_record for entry in repository}
    missing = [name for name, record in records.items() if record is None]
    if missing:
        raise RepositoryError(
            f"candidate_score='transfer_record' needs a transfer record for every source; {missing} in "
            f"{repository.path} have none: run `fast-rllib repo measure-transfer --repository {repository.path}` "
            "or use candidate_score='similarity'"
        )
    return {name: record.share_of_lane_follower for name, record in records.items()}
