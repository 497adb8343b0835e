"""A file written through :mod:`fast_rllib.atomic_write` is either the old one or the complete new one."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from fast_rllib.atomic_write import write_atomically, write_json_atomically, write_text_atomically


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.parquet"
    pd.DataFrame({"step": [1, 2]}).to_parquet(target)

    def half_write(temporary: Path) -> None:
        temporary.write_bytes(b"PAR1 half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        write_atomically(target, half_write)
    assert pd.read_parquet(target).step.tolist() == [1, 2]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.parquet"]


def test_the_temporary_is_hidden_from_globs_of_finished_files(tmp_path: Path) -> None:
    seen_during_write: list[list[str]] = []

    def write(temporary: Path) -> None:
        pd.DataFrame({"x": [0]}).to_parquet(temporary)
        seen_during_write.append([path.name for path in (tmp_path / "runs").glob("*.parquet")])

    write_atomically(tmp_path / "runs" / "seed0.parquet", write)
    assert seen_during_write == [[]]
    assert pd.read_parquet(tmp_path / "runs" / "seed0.parquet").x.tolist() == [0]


def test_text_and_json_replace_what_was_there(tmp_path: Path) -> None:
    write_text_atomically(tmp_path / "table.md", "old")
    write_text_atomically(tmp_path / "table.md", "| new |\n")
    write_json_atomically(tmp_path / "summary.json", {"runs": 3})
    assert (tmp_path / "table.md").read_text() == "| new |\n"
    assert json.loads((tmp_path / "summary.json").read_text()) == {"runs": 3}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["summary.json", "table.md"]
