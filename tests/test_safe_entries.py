"""An entry is data, not code: modules as a JSON spec and safetensors, pickles only when trusted, module
files checked against their recorded SHA-256, and `repo check` / `repo convert` as a user runs them."""

from __future__ import annotations

import json
import pathlib
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_repository import tiny_module

from directory_digest import tree_digest
from fast_rllib.commands.fast_rllib_cli import main
from fast_rllib.fast import FASTConfig
from fast_rllib.repository import DEFAULT_REPOSITORY, RepositoryError, SourceRepository, convert_entry, write_entry
from fast_rllib.repository.layout import file_record
from fast_rllib.repository.policies import action_inputs

TASK_ID = "fast/racetrack-oval-v0"
FRAME_SIZE = 32
PICKLE_FILES = ("class_and_ctor_args.pkl", "module_state.pkl")


def _frames(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(2, 4, FRAME_SIZE, FRAME_SIZE), dtype=np.uint8)
    return frames, np.array([5.0, 3.0])


def _add(root: Path, name: str, seed: int = 0, hidden: list[int] | None = None):
    frames, returns = _frames(seed)
    module = tiny_module(TASK_ID, seed, hidden or [16, 16])
    info = {"task_id": TASK_ID, "evaluation_return": 4.0}
    return write_entry(root, name, module=module, frames=frames, episode_returns=returns, info=info)


def _as_legacy_entry(entry_path: Path, write_module) -> None:
    """Turn a written entry into one from before the safe format: pickles in module/, no checksums."""
    module_dir = entry_path / "module"
    shutil.rmtree(module_dir)
    write_module(module_dir)
    source_json = entry_path / "source.json"
    info = json.loads(source_json.read_text())
    for key in ("module_files", "module_format"):
        info.pop(key)
    source_json.write_text(json.dumps(info, indent=2))


class _WritesAFile:
    """Unpickling this calls ``Path.touch(marker)``: what any code a hostile entry's author chose would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path]:
    """A repository whose only entry's pickles create ``marker`` when unpickled."""
    root, marker = tmp_path / "repo", tmp_path / "pwned"
    _add(root, "legacy")

    def write_hostile_pickles(module_dir: Path) -> None:
        module_dir.mkdir()
        for file_name in PICKLE_FILES:
            (module_dir / file_name).write_bytes(pickle.dumps(_WritesAFile(marker)))

    _as_legacy_entry(root / "legacy", write_hostile_pickles)
    return root, marker


def test_a_pickle_that_would_write_a_file_is_refused_by_default_and_never_run(hostile, capsys) -> None:
    root, marker = hostile
    before = tree_digest(root)
    refusal = r"source entry 'legacy' at .*legacy: the module is stored as pickles .* set trust_pickles=True"
    with pytest.raises(RepositoryError, match=refusal):
        SourceRepository.load(root)
    entry = SourceRepository.load(root, check_modules=False)["legacy"]  # frames and text only: nothing unpickled
    assert entry.module_format == "pickle"
    for load in (entry.load_module, entry.inference_state, entry.policy_weights):
        with pytest.raises(RepositoryError, match=refusal):
            load()
    config = FASTConfig().environment("fast/indiana-v0").training(repository_path=str(root), frame_size=FRAME_SIZE)
    with pytest.raises(ValueError, match=f"repository_path='{root}' cannot serve target .*{refusal}"):
        config.validate()
    for command in (["repo", "show", "legacy"], ["repo", "convert"]):
        with pytest.raises(SystemExit, match="--trust-pickles"):
            main([*command, "--repository", str(root)])
    with pytest.raises(SystemExit, match="are bad: legacy$"):
        main(["repo", "check", "--repository", str(root)])
    assert "BAD  legacy: " in capsys.readouterr().out
    assert not marker.exists() and tree_digest(root) == before
    # The payload is real: trusting the entry runs it (and what comes out is no usable module).
    with pytest.raises(RepositoryError, match="^source entry 'legacy' at "):
        SourceRepository.load(root, trust_pickles=True)
    assert marker.exists()


def _legacy_pair(root: Path) -> None:
    """Two entries written as RLlib checkpoints (pickles), as every entry was before the safe format."""
    for seed, name in enumerate(("alpha", "beta")):
        module = _add(root, name, seed).load_module()
        _as_legacy_entry(root / name, module.save_to_path)


def test_converting_pickled_entries_keeps_every_action_and_everything_else(tmp_path: Path, capsys) -> None:
    root = tmp_path / "repo"
    _legacy_pair(root)
    pickled = SourceRepository.load(root, trust_pickles=True)
    modules = {entry.name: entry.load_module() for entry in pickled}
    frames_bytes = {name: (root / name / "frames.parquet").read_bytes() for name in pickled.names}
    infos = {entry.name: entry.info for entry in pickled}
    digest = tree_digest(root)
    with pytest.raises(SystemExit, match="pass --trust-pickles"):
        main(["repo", "convert", "--repository", str(root)])
    with pytest.raises(RepositoryError, match="set trust_pickles=True"):
        convert_entry(root, "alpha", trust_pickles=False)
    assert tree_digest(root) == digest

    main(["repo", "convert", "--repository", str(root), "--trust-pickles"])
    assert "alpha: module stored as safetensors" in capsys.readouterr().out
    converted = SourceRepository.load(root)  # no trust needed any more
    for entry in converted:
        assert sorted(path.name for path in entry.module_path.iterdir()) == ["spec.json", "weights.safetensors"]
        assert (root / entry.name / "frames.parquet").read_bytes() == frames_bytes[entry.name]
        added = {key: value for key, value in entry.info.items() if key not in infos[entry.name]}
        assert set(added) == {"module_format", "module_files"}
        assert {key: entry.info[key] for key in infos[entry.name]} == infos[entry.name]
        module = entry.load_module()
        observation_space = module.observation_space
        assert torch.equal(action_inputs(module, observation_space), action_inputs(modules[entry.name], observation_space))
        state, original = entry.inference_state(), modules[entry.name].get_state(inference_only=True)
        assert set(state) == set(original) - {"weights_seq_no"}
        for key, value in state.items():
            assert value.dtype == original[key].dtype
            np.testing.assert_array_equal(value, original[key])


def test_the_shipped_zoo_holds_no_pickles_and_its_checksums_hold() -> None:
    assert not list(DEFAULT_REPOSITORY.rglob("*.pkl"))
    repository = SourceRepository.load(DEFAULT_REPOSITORY, check_modules=False)
    for entry in repository:
        assert entry.module_format == "safetensors"
        recorded = entry.info["module_files"]
        names = ("spec.json", "weights.safetensors")
        assert recorded == {name: file_record((entry.module_path / name).read_bytes()) for name in names}


def test_a_spec_naming_a_class_outside_the_allowlist_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _add(root, "alpha")
    spec_path = root / "alpha" / "module" / "spec.json"
    spec = json.loads(spec_path.read_text())
    spec_path.write_text(json.dumps({**spec, "module_class": "builtins.eval"}, indent=2) + "\n")
    with pytest.raises(RepositoryError, match=r"module/spec.json is damaged \(\d+ bytes, source.json records \d+\)"):
        SourceRepository.load(root, check_modules=False)
    hostile_name = "builtins.eval".ljust(len(spec["module_class"]), "_")  # the same size as the real name
    spec_path.write_text(json.dumps({**spec, "module_class": hostile_name}, indent=2) + "\n")
    SourceRepository.load(root, check_modules=False)  # sizes match: only reading the file can tell
    with pytest.raises(RepositoryError, match=r"module/spec.json is damaged \(\d+ bytes\): its SHA-256 differs"):
        SourceRepository.load(root)
    # An author who records matching checksums gets no further: the name is looked up, never imported.
    _record(root / "alpha", "spec.json")
    with pytest.raises(RepositoryError, match=(
        rf"^source entry 'alpha' at .*alpha: module/spec.json: module_class '{hostile_name}' is not one of "
        r"DefaultDQNTorchRLModule, DefaultSACTorchRLModule$"
    )):
        SourceRepository.load(root)


def test_weights_that_do_not_fit_the_spec_are_named(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _add(root, "alpha", hidden=[16, 16])
    _add(root / "other", "wide", hidden=[8, 8])
    weights = root / "alpha" / "module" / "weights.safetensors"
    shutil.copyfile(root / "other" / "wide" / "module" / "weights.safetensors", weights)
    _record(root / "alpha", "weights.safetensors")
    with pytest.raises(RepositoryError, match=(
        r"'alpha' at .*alpha: module/weights.safetensors: does not fit the module spec.json describes: "
        r"pi.net.mlp.0.weight has shape \(2, 8\), expected \(2, 16\)"
    )):
        SourceRepository.load(root)


def _record(entry_path: Path, file_name: str) -> None:
    """Record the module file's current size and digest in source.json, as a hostile author would."""
    source_json = entry_path / "source.json"
    info = json.loads(source_json.read_text())
    info["module_files"][file_name] = file_record((entry_path / "module" / file_name).read_bytes())
    source_json.write_text(json.dumps(info))


def _truncate(path: Path, size: int = 200) -> None:
    path.write_bytes(path.read_bytes()[:size])


def test_repo_check_names_every_bad_entry_and_changes_nothing(tmp_path: Path, capsys) -> None:
    root = tmp_path / "repo"
    for seed, name in enumerate(("alpha", "beta", "gamma")):
        _add(root, name, seed)
    main(["repo", "check", "--repository", str(root)])
    assert "all 3 checked item(s)" in capsys.readouterr().out
    _truncate(root / "beta" / "module" / "weights.safetensors")
    _truncate(root / "gamma" / "frames.parquet")
    digest = tree_digest(root)
    with pytest.raises(SystemExit, match=r"^error: 2 of 3 checked item\(s\) in .* are bad: beta, gamma$"):
        main(["repo", "check", "--repository", str(root)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ok   alpha"
    assert lines[1].startswith("BAD  beta: source entry 'beta'") and "module/weights.safetensors is damaged" in lines[1]
    assert lines[2].startswith("BAD  gamma: source entry 'gamma'") and "bad frames.parquet" in lines[2]
    assert tree_digest(root) == digest


def test_repo_check_names_a_truncated_autoencoder(tmp_path: Path, capsys) -> None:
    root = tmp_path / "repo"
    _add(root, "alpha")
    shutil.copytree(DEFAULT_REPOSITORY / "autoencoder", root / "autoencoder")
    _truncate(root / "autoencoder" / "autoencoder.pt", 2000)
    with pytest.raises(SystemExit, match="are bad: autoencoder$"):
        main(["repo", "check", "--repository", str(root)])
    output = capsys.readouterr().out
    assert f"BAD  autoencoder: autoencoder at {root / 'autoencoder'}: autoencoder.pt in " in output
    assert "is unreadable" in output


def test_score_and_list_name_a_truncated_module_before_any_work(tmp_path: Path, capsys) -> None:
    root = Path(shutil.copytree(DEFAULT_REPOSITORY, tmp_path / "zoo"))
    _truncate(root / "kidney-v0" / "module" / "weights.safetensors", 2000)
    digest = tree_digest(root)
    message = (r"source entry 'kidney-v0' at .*kidney-v0: module/weights.safetensors is damaged \(2000 bytes, "
               r"source.json records 312972\): truncated or changed after it was written")
    for command in (["score", "--task", "fast/indiana-v0"], ["repo", "list"], ["repo", "show", "racetrack-v0"]):
        with pytest.raises(SystemExit, match=message):
            main([*command, "--repository", str(root)])
    assert tree_digest(root) == digest and capsys.readouterr().out == ""


def test_score_draws_a_chart_only_when_asked(tmp_path: Path, monkeypatch, capsys) -> None:
    """The report itself is scoring's business (tests/test_targets.py, -m extended); here only where the
    command writes: nothing in the current folder by default, the chart at --output when given."""
    import fast_rllib.build.scoring as scoring

    report = scoring.ScoreReport("fast/indiana-v0", "lane-follower", 0.4, "nearest_cosine", [
        scoring.SourceScore("racetrack-v0", "racing", {"F": 0.8, "FT": 0.7}),
        scoring.SourceScore("highway-v0", "driving", {"F": 0.3, "FT": 0.1}),
    ])
    monkeypatch.setattr(scoring, "score_task", lambda *args, **kwargs: report)
    monkeypatch.chdir(tmp_path)
    main(["score", "--task", "fast/indiana-v0"])
    assert "racetrack-v0" in capsys.readouterr().out and list(tmp_path.iterdir()) == []
    main(["score", "--task", "fast/indiana-v0", "--output", "out/chart.png"])
    assert "saved the chart to out/chart.png" in capsys.readouterr().out
    assert [path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*")] == ["out", "out/chart.png"]


def test_a_pickled_jump_start_guide_needs_trust_on_the_driver_and_on_the_env_runners(tmp_path: Path) -> None:
    from fast_rllib.jump_start import JumpStartConfig
    from fast_rllib.jump_start.roll_in import GuideRollIn

    root = tmp_path / "repo"
    _legacy_pair(root)
    config = JumpStartConfig().environment("fast/indiana-v0").training(repository_path=str(root), guide_source="alpha")
    with pytest.raises(ValueError, match=r"guide_source='alpha' cannot be loaded: .* set trust_pickles=True"):
        config.validate()
    with pytest.raises(RepositoryError, match="set trust_pickles=True"):
        GuideRollIn(repository_path=root, guide_source="alpha", horizon=10)
    config.training(trust_pickles=True).validate()
    guide = GuideRollIn(repository_path=root, guide_source="alpha", horizon=10, trust_pickles=True).guide
    assert guide.inference_only
