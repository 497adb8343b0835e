"""Results files are committed and read elsewhere: they record paths relative to the checkout, not where a
machine keeps it."""

from __future__ import annotations

import re
from pathlib import Path

from fast_rllib.checkout_paths import CHECKOUT_ROOT, checkout_relative

RESULTS = Path(__file__).parent.parent / "benchmarks" / "results"
# An absolute path of the kind a machine writes: a home, a work folder, a temp folder.
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:home|Users|work|tmp|root|private|var/folders)/[\w.-]+")


def test_checkout_relative_paths() -> None:
    assert checkout_relative(CHECKOUT_ROOT / "fast_rllib" / "zoo") == "fast_rllib/zoo"
    assert checkout_relative(CHECKOUT_ROOT) == "."
    assert checkout_relative("/somewhere/else/zoo") == "<outside the checkout>/zoo"


def test_no_results_file_records_a_machine_path() -> None:
    offenders = []
    for path in sorted(RESULTS.rglob("*")):
        if path.suffix in (".json", ".md", ".txt", ".csv"):
            offenders += [f"{path.relative_to(RESULTS)}: {match}" for match in MACHINE_PATH.findall(path.read_text())]
    assert not offenders, offenders
