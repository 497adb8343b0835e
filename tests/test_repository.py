"""The source repository: entries round-trip, every broken entry is named with its reason, writes are atomic."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from ray.rllib.algorithms.sac import SACConfig
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule

import fast_rllib.repository.writing as writing
from fast_rllib.commands.fast_rllib_cli import main
from fast_rllib.build.evaluation import EpisodeRecord, module_policy, run_episodes
from fast_rllib.build.recording import best_stacks, record_again
from fast_rllib.repository import DISCRETE_REPOSITORY, INDEX_FILE, RepositoryError, SourceRepository, remove_entry, write_entry
from fast_rllib.repository.layout import frames_table
from fast_rllib.service import SimilarityServiceSettings, shipped_autoencoder_dir
from fast_rllib.build.recording import stack_positions
from fast_rllib.tasks import make_task_env
from fast_rllib.tasks.frames import FrameCapture

from directory_digest import tree_digest

TASK_ID = "fast/racetrack-v0"
FRAME_SIZE = 32  # small frames keep the tests fast; the format does not depend on the size


@pytest.fixture(scope="module")
def spaces() -> tuple[gym.Space, gym.Space]:
    env = make_task_env(TASK_ID)
    env.reset(seed=0)
    env.close()
    return env.observation_space, env.action_space


def _sac_module(observation_space: gym.Space, action_space: gym.Space, hidden: list[int]) -> RLModule:
    config = SACConfig().environment(observation_space=observation_space, action_space=action_space)
    return config.rl_module(model_config={"fcnet_hiddens": hidden}).get_rl_module_spec().build()


@pytest.fixture(scope="module")
def module(spaces) -> RLModule:
    torch.manual_seed(0)
    return _sac_module(*spaces, hidden=[16, 16])


def _frames(count: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(count, 4, FRAME_SIZE, FRAME_SIZE), dtype=np.uint8)
    return frames, np.sort(rng.normal(10.0, 3.0, size=count))[::-1].copy()


def _info(**overrides) -> dict:
    return {"task_id": TASK_ID, "evaluation_return": 12.5, "training_env_steps": 1000, **overrides}


def _write(root: Path, name: str, module: RLModule, **kwargs):
    frames, returns = _frames()
    return write_entry(root, name, module=module, frames=frames, episode_returns=returns, info=_info(), **kwargs)


@pytest.fixture
def repo(tmp_path: Path, module: RLModule) -> Path:
    root = tmp_path / "repo"
    _write(root, "alpha", module)
    return root


# --- round trip ---------------------------------------------------------------------------------------


def test_round_trip(repo: Path, module: RLModule, spaces) -> None:
    frames, returns = _frames()
    loaded = SourceRepository.load(repo, observation_space=spaces[0], action_space=spaces[1])
    assert loaded.names == ("alpha",) and len(loaded) == 1 and [e.name for e in loaded] == ["alpha"]
    entry = loaded["alpha"]
    assert entry.task_id == TASK_ID and entry.task_config == {}
    assert entry.description.startswith("The ego-vehicle")
    np.testing.assert_array_equal(entry.frames, frames)
    assert entry.frames.dtype == np.uint8 and entry.episode_returns.dtype == np.float64
    np.testing.assert_array_equal(entry.episode_returns, returns)
    info = json.loads((repo / "alpha" / "source.json").read_text())
    assert entry.info == info
    assert info["evaluation_return"] == 12.5 and info["training_env_steps"] == 1000
    assert info["frame_size"] == FRAME_SIZE and info["action_mode"] == "steering"
    assert info["module_inference_only"] is True
    assert set(info["versions"]) == {"ray", "torch", "highway-env", "gymnasium", "fast-rllib"}
    assert info["controller_return"] is None and info["random_return"] is None and info["created_at"]
    with pytest.raises(KeyError, match="no source entry 'beta'.*alpha"):
        loaded["beta"]


def test_stored_module_is_inference_only_and_acts_like_the_original(repo: Path, module: RLModule) -> None:
    assert sorted(path.name for path in (repo / "alpha" / "module").iterdir()) == ["spec.json", "weights.safetensors"]
    stored = SourceRepository.load(repo)["alpha"].load_module()
    assert stored.inference_only and not hasattr(stored, "qf_encoder")
    observations = torch.as_tensor(np.random.default_rng(1).standard_normal((20, 45)).astype(np.float32))
    expected = module.forward_inference({Columns.OBS: observations})[Columns.ACTION_DIST_INPUTS]
    actual = stored.forward_inference({Columns.OBS: observations})[Columns.ACTION_DIST_INPUTS]
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    original_policy, stored_policy = module_policy(module), module_policy(stored)
    for observation in observations.numpy():
        np.testing.assert_array_equal(stored_policy(observation), original_policy(observation))


def test_inference_state_is_the_policy_network_only(repo: Path, module: RLModule) -> None:
    state = SourceRepository.load(repo)["alpha"].inference_state()
    expected = module.get_state(inference_only=True)
    assert set(state) == set(expected) and "weights_seq_no" not in state
    assert all(key.startswith(("pi_encoder.", "pi.")) for key in state)
    for key, value in state.items():
        assert isinstance(value, np.ndarray)
        np.testing.assert_array_equal(value, expected[key])


def test_module_policy_is_rllibs_deterministic_action(module: RLModule) -> None:
    """RLlib (explore=False): the pre-tanh Gaussian mean, unsquashed to the bounds and clipped."""
    observation = np.random.default_rng(2).standard_normal(45).astype(np.float32)
    logits = module.forward_inference({Columns.OBS: torch.as_tensor(observation[None])})[Columns.ACTION_DIST_INPUTS]
    mean = logits.detach().numpy()[0, :1]
    action = module_policy(module)(observation)
    assert action.shape == (1,) and action.dtype == np.float32
    np.testing.assert_allclose(action, np.clip(mean, -1, 1), rtol=1e-6)
    wide = _sac_module(module.observation_space, gym.spaces.Box(-2.0, 2.0, (1,), np.float32), [16, 16])
    wide.set_state(module.get_state())
    np.testing.assert_allclose(module_policy(wide)(observation), np.clip(2 * mean, -2, 2), rtol=1e-6)


# --- validation: every problem names the entry and the reason ------------------------------------------


@pytest.mark.parametrize(
    "relative_path", ["frames.parquet", "source.json", "module/spec.json", "module/weights.safetensors"]
)
def test_missing_file_is_named(repo: Path, relative_path: str) -> None:
    (repo / "alpha" / relative_path).unlink()
    with pytest.raises(RepositoryError, match=rf"'alpha' at {repo / 'alpha'}: missing file {relative_path}"):
        SourceRepository.load(repo, check_modules=False)


def test_missing_entry_folder_is_named(repo: Path, module: RLModule) -> None:
    _write(repo, "beta", module)
    (repo / "beta").rename(repo / "gamma")
    with pytest.raises(RepositoryError, match="'beta' at .*beta: entry folder is missing"):
        SourceRepository.load(repo, check_modules=False)


@pytest.mark.parametrize("file_name", ["weights.safetensors", "spec.json"])
def test_a_truncated_module_file_is_named_by_its_recorded_size_without_loading(repo: Path, file_name: str) -> None:
    path = repo / "alpha" / "module" / file_name
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[: size // 2])
    with pytest.raises(RepositoryError, match=(
        rf"^source entry 'alpha' at .*alpha: module/{file_name} is damaged \({size // 2} bytes, source.json "
        rf"records {size}\): truncated or changed after it was written$"
    )):
        SourceRepository.load(repo, check_modules=False)


def test_a_module_file_changed_in_place_is_named_by_its_digest_when_read(repo: Path) -> None:
    path = repo / "alpha" / "module" / "weights.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one weight's last byte: same size, different content
    path.write_bytes(bytes(data))
    SourceRepository.load(repo, check_modules=False)
    for states_only in (True, False):
        with pytest.raises(RepositoryError, match=(
            r"^source entry 'alpha' at .*alpha: module/weights.safetensors is damaged \(\d+ bytes\): its SHA-256 "
            r"differs from the one source.json records \(changed after it was written\)$"
        )):
            SourceRepository.load(repo, states_only=states_only)


@pytest.mark.parametrize(("file_name", "problem"), [("weights.safetensors", "unreadable"), ("spec.json", "unreadable")])
def test_an_entry_without_checksums_is_checked_by_loading(repo: Path, file_name: str, problem: str) -> None:
    """Entries written before checksums existed still load, and a damaged one fails when its module loads."""
    source_json = repo / "alpha" / "source.json"
    info = json.loads(source_json.read_text())
    del info["module_files"]
    source_json.write_text(json.dumps(info))
    SourceRepository.load(repo)
    path = repo / "alpha" / "module" / file_name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    SourceRepository.load(repo, check_modules=False)  # files exist and nothing records their content
    with pytest.raises(RepositoryError, match=rf"^source entry 'alpha' at .*alpha: module/{file_name}: {problem}"):
        SourceRepository.load(repo)


def test_truncated_frames_are_named(repo: Path) -> None:
    path = repo / "alpha" / "frames.parquet"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(RepositoryError, match="'alpha' at .*alpha: bad frames.parquet"):
        SourceRepository.load(repo, check_modules=False)


@pytest.mark.parametrize(
    "frames, reason",
    [
        (np.zeros((0, 4, FRAME_SIZE, FRAME_SIZE), np.uint8), "empty"),
        (np.full((2, 4, FRAME_SIZE, FRAME_SIZE), 7, np.uint8), "blank"),
        (np.ones((2, 3, FRAME_SIZE, FRAME_SIZE), np.uint8), "shape"),
        (np.ones((2, 4, 16, 16), np.uint8), "frame_size"),
    ],
)
def test_bad_frames_on_disk_are_named(repo: Path, frames: np.ndarray, reason: str) -> None:
    returns = np.zeros(len(frames))
    if reason in ("shape", "frame_size"):
        frames = frames.copy()
        frames[:, :, 0, 0] = 200  # not blank: only the shape is wrong
    pq.write_table(frames_table(frames, returns), repo / "alpha" / "frames.parquet")
    with pytest.raises(RepositoryError, match=rf"'alpha' at .*alpha: bad frames.parquet: .*{reason}"):
        SourceRepository.load(repo, check_modules=False)


def test_frames_stored_with_the_wrong_dtype_are_named(repo: Path) -> None:
    import pyarrow as pa

    table = frames_table(*_frames())
    as_floats = pa.array([np.frombuffer(raw, np.uint8).astype(np.float32).tolist() for raw in
                          table.column("frames").to_pylist()], type=pa.list_(pa.float32()))
    pq.write_table(table.set_column(0, "frames", as_floats), repo / "alpha" / "frames.parquet")
    with pytest.raises(RepositoryError, match=r"'alpha' at .*alpha: bad frames.parquet: .*has type list<.*float>, expected binary"):
        SourceRepository.load(repo, check_modules=False)


def test_frames_of_wrong_dtype_are_refused_at_write(tmp_path: Path, module: RLModule) -> None:
    frames, returns = _frames()
    with pytest.raises(ValueError, match="dtype float32, expected uint8"):
        write_entry(tmp_path, "alpha", module=module, frames=frames.astype(np.float32), episode_returns=returns,
                    info=_info())
    assert not (tmp_path / "alpha").exists()


@pytest.mark.parametrize("which", ["observation_space", "action_space"])
def test_mismatched_spaces_are_named(repo: Path, spaces, which: str) -> None:
    observation_space, action_space = spaces
    if which == "observation_space":
        observation_space = gym.spaces.Box(-np.inf, np.inf, (46,), np.float32)
    else:
        action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    with pytest.raises(RepositoryError, match=rf"'alpha' at .*alpha: {which} differs from the expected one: shape"):
        SourceRepository.load(repo, observation_space=observation_space, action_space=action_space)


def test_mismatched_network_shapes_are_named(repo: Path, module: RLModule, spaces) -> None:
    reference = _sac_module(*spaces, hidden=[32, 32]).get_state(inference_only=True)
    with pytest.raises(
        RepositoryError,
        match=r"'alpha' at .*alpha: policy network shapes differ from the reference state: "
        r"pi.net.mlp.0.weight has shape \(2, 16\), expected \(2, 32\)",
    ):
        SourceRepository.load(repo, reference_state=reference)
    # Without a reference, entries must agree with the first one.
    write_entry(repo, "wide", module=_sac_module(*spaces, hidden=[32, 32]), frames=_frames()[0],
                episode_returns=_frames()[1], info=_info())
    with pytest.raises(RepositoryError, match="'wide' at .*wide: policy network shapes differ from entry 'alpha'"):
        SourceRepository.load(repo)


def test_an_entry_that_does_not_fit_the_repository_is_refused(repo: Path, module: RLModule, spaces) -> None:
    before = tree_digest(repo)
    frames = np.repeat(np.repeat(_frames()[0], 2, axis=2), 2, axis=3)  # 64 px instead of 32
    with pytest.raises(ValueError, match="frame_size \\(64\\) differs from that of entry 'alpha' \\(32\\)"):
        write_entry(repo, "beta", module=module, frames=frames, episode_returns=_frames()[1], info=_info())
    two_actions = _sac_module(spaces[0], gym.spaces.Box(-1.0, 1.0, (2,), np.float32), [16, 16])
    with pytest.raises(ValueError, match="action_space .*differs from that of entry 'alpha'"):
        _write(repo, "beta", two_actions)
    assert tree_digest(repo) == before


def test_empty_and_unknown_repositories_are_refused(tmp_path: Path, repo: Path) -> None:
    with pytest.raises(RepositoryError, match="no source repository at .*index.json is missing"):
        SourceRepository.load(tmp_path / "nowhere")
    index = json.loads((repo / INDEX_FILE).read_text())
    (repo / INDEX_FILE).write_text(json.dumps({**index, "entries": []}))
    with pytest.raises(RepositoryError, match="has no entries"):
        SourceRepository.load(repo)
    (repo / INDEX_FILE).write_text(json.dumps({**index, "format_version": 99}))
    with pytest.raises(RepositoryError, match="format_version 99"):
        SourceRepository.load(repo)


def _set_autoencoder_choice(repo: Path, choice: str) -> None:
    index = json.loads((repo / INDEX_FILE).read_text())
    (repo / INDEX_FILE).write_text(json.dumps({**index, "autoencoder": choice}))


def test_the_index_names_the_autoencoder_that_scores_the_repository(repo: Path, module: RLModule) -> None:
    """Its own folder by default; the shipped weights when the index says so, kept as entries come and go."""
    assert SimilarityServiceSettings(repository_path=str(repo)).resolved_autoencoder_dir() == str(repo / "autoencoder")
    _set_autoencoder_choice(repo, "shipped")
    _write(repo, "beta", module)
    remove_entry(repo, "alpha")
    assert json.loads((repo / INDEX_FILE).read_text())["autoencoder"] == "shipped"
    assert SimilarityServiceSettings(repository_path=str(repo)).resolved_autoencoder_dir() == str(shipped_autoencoder_dir())
    assert SimilarityServiceSettings(repository_path=str(DISCRETE_REPOSITORY)).resolved_autoencoder_dir() == str(
        shipped_autoencoder_dir()
    )


def test_an_unknown_autoencoder_choice_is_named(repo: Path) -> None:
    _set_autoencoder_choice(repo, "../elsewhere")
    message = r"index.json: 'autoencoder' is '../elsewhere'; allowed values: 'own' .* or 'shipped'"
    with pytest.raises(RepositoryError, match=message):
        SourceRepository.load(repo)
    with pytest.raises(RepositoryError, match=message):
        SimilarityServiceSettings(repository_path=str(repo)).validate()


# --- atomic writes ------------------------------------------------------------------------------------


def _fail(*args, **kwargs):
    raise OSError("disk full (simulated)")


@pytest.mark.parametrize("overwrite", [False, True])
def test_failed_write_leaves_the_tree_byte_identical(repo: Path, module: RLModule, monkeypatch, overwrite: bool) -> None:
    name = "alpha" if overwrite else "beta"
    before = tree_digest(repo)
    monkeypatch.setattr(writing.pq, "write_table", _fail)
    with pytest.raises(OSError, match="simulated"):
        _write(repo, name, module, overwrite=overwrite)
    assert tree_digest(repo) == before


@pytest.mark.parametrize("overwrite", [False, True])
def test_failed_index_update_rolls_the_entry_back(repo: Path, module: RLModule, monkeypatch, overwrite: bool) -> None:
    """The latest possible failure: the new entry is already in place when the index cannot be replaced."""
    name = "alpha" if overwrite else "beta"
    before = tree_digest(repo)
    real_replace = os.replace

    def replace(source, destination):
        if Path(destination).name == INDEX_FILE:
            raise OSError("rename failed (simulated)")
        return real_replace(source, destination)

    monkeypatch.setattr(writing.os, "replace", replace)
    with pytest.raises(OSError, match="simulated"):
        _write(repo, name, module, overwrite=overwrite)
    assert tree_digest(repo) == before


def test_replacing_needs_overwrite(repo: Path, module: RLModule) -> None:
    with pytest.raises(FileExistsError, match="'alpha' already exists"):
        _write(repo, "alpha", module)
    frames, returns = _frames(count=2, seed=5)
    write_entry(repo, "alpha", module=module, frames=frames, episode_returns=returns,
                info=_info(evaluation_return=20.0), overwrite=True)
    entry = SourceRepository.load(repo)["alpha"]
    assert entry.info["evaluation_return"] == 20.0 and len(entry.frames) == 2
    assert sorted(p.name for p in repo.iterdir()) == ["alpha", INDEX_FILE]  # no temp folders left behind


def test_entry_names_are_checked(tmp_path: Path, module: RLModule) -> None:
    for name in (".hidden", "a/b", "autoencoder", ""):
        with pytest.raises(ValueError, match="entry name"):
            _write(tmp_path, name, module)


# --- recording ----------------------------------------------------------------------------------------


def test_best_stacks_spread_the_best_episodes_over_an_episode(module: RLModule) -> None:
    policy = module_policy(module)
    records = run_episodes(TASK_ID, policy, episodes=3, frame_size=FRAME_SIZE, seed=7)
    stacks, returns = best_stacks(records, keep=2, stacks_per_episode=2)
    assert stacks.shape == (4, 4, FRAME_SIZE, FRAME_SIZE) and stacks.dtype == np.uint8
    assert returns.dtype == np.float64 and list(returns) == sorted(returns, reverse=True)
    for stack in stacks:
        assert all(frame.std() > 1.0 for frame in stack)
    # Replay every episode by hand: of the 2 kept, the best episode gives the stacks 1/8 and 5/8 of the
    # way through its snapshots (taken every 4 steps), the second best those 3/8 and 7/8 of the way.
    manual = []
    for seed in (7, 8, 9):
        env = FrameCapture(make_task_env(TASK_ID), FRAME_SIZE, capturing=True)
        observation, _ = env.reset(seed=seed)
        total, done, snapshots, steps = 0.0, False, [], 0
        while not done:
            observation, reward, terminated, truncated, _ = env.step(policy(observation))
            total, done, steps = total + reward, terminated or truncated, steps + 1
            if steps % 4 == 0:
                snapshots.append(env.frame_stack())
        manual.append((total, snapshots))
        env.close()
    manual.sort(key=lambda item: -item[0])
    np.testing.assert_allclose(returns, np.repeat([total for total, _ in manual[:2]], 2))
    best, second = manual[0][1], manual[1][1]
    expected = [best[int(f * len(best))] for f in (1 / 8, 5 / 8)] + [second[int(f * len(second))] for f in (3 / 8, 7 / 8)]
    np.testing.assert_array_equal(stacks, np.stack(expected))


def test_stack_positions_tile_an_episode_across_the_kept_episodes() -> None:
    kept, per_episode, available = 10, 4, 1000
    positions = sorted(p for rank in range(kept) for p in stack_positions(rank, kept, per_episode, available))
    # 40 distinct places, one in each fortieth of the episode: together they cover it evenly.
    assert positions == [int((m + 0.5) / 40 * available) for m in range(40)]
    assert stack_positions(0, 1, 1, 9) == [4]  # one stack of one episode: its middle
    assert stack_positions(0, 1, 4, 2) == [0, 1]  # a short episode gives what it has, never a stack twice


def test_best_stacks_keeps_whatever_episodes_have_stacks() -> None:
    frame = np.random.default_rng(0).integers(0, 255, (4, 8, 8), dtype=np.uint8)
    records = [
        EpisodeRecord(seed=0, episode_return=5.0, length=2, stacks=()),  # crashed before a full stack
        EpisodeRecord(seed=1, episode_return=1.0, length=8, stacks=(frame, frame[::-1])),
    ]
    stacks, returns = best_stacks(records, keep=2)  # 4 per episode asked, the one usable episode has 2
    assert stacks.shape == (2, 4, 8, 8) and list(returns) == [1.0, 1.0]
    with pytest.raises(ValueError, match="none of 1 episodes lasted"):
        best_stacks(records[:1], keep=1)
    with pytest.raises(ValueError, match="stacks_per_episode=0 must be positive"):
        best_stacks(records, keep=2, stacks_per_episode=0)


def test_record_again_replaces_only_the_frames(tmp_path: Path, repository: Path) -> None:
    """Re-recording drives the stored policy on the stored seeds: same returns and module, new stacks."""
    root = tmp_path / "repo"
    shutil.copytree(repository, root)
    loaded = SourceRepository.load(root)
    name = loaded.names[0]
    before = loaded[name]
    module_files = {path.name: path.read_bytes() for path in before.module_path.rglob("*") if path.is_file()}

    again = record_again(root, name, keep=2, stacks_per_episode=1)  # the tiny repository's own settings
    np.testing.assert_array_equal(again.frames, before.frames)
    after = record_again(root, name, keep=2, stacks_per_episode=3)
    assert after.frames.shape[0] > before.frames.shape[0] and after.info["stacks_per_episode"] == 3
    for key in ("evaluation_returns", "evaluation_seeds", "controller_return", "random_return",
                "training_env_steps", "description", "task_config"):
        assert after.info[key] == before.info[key], key
    assert {path.name: path.read_bytes() for path in after.module_path.rglob("*") if path.is_file()} == module_files

    with pytest.raises(KeyError, match="no source entry 'nowhere'"):
        record_again(root, "nowhere")
    source_json = root / name / "source.json"
    info = json.loads(source_json.read_text())
    source_json.write_text(json.dumps({**info, "evaluation_seeds": [3, 9]}))
    digest = tree_digest(root)
    with pytest.raises(ValueError, match=rf"source '{name}' has evaluation_seeds=\[3, 9\]"):
        record_again(root, name)
    assert tree_digest(root) == digest


# --- command line -------------------------------------------------------------------------------------


def test_cli_repo_add_list_show_remove(tmp_path: Path, module: RLModule, capsys) -> None:
    checkpoint = tmp_path / "algorithm"  # an Algorithm checkpoint's layout
    module.save_to_path(checkpoint / "learner_group" / "learner" / "rl_module" / "default_policy")
    out = tmp_path / "repo"
    main(["repo", "add", "--checkpoint", str(checkpoint), "--task", TASK_ID, "--out", str(out),
          "--episodes", "2", "--keep", "1", "--stacks-per-episode", "1", "--frame-size", str(FRAME_SIZE),
          "--baseline-episodes", "1",
          "--training-steps", "500"])
    assert "added 'racetrack-v0'" in capsys.readouterr().out
    entry = SourceRepository.load(out)["racetrack-v0"]
    assert entry.frames.shape == (1, 4, FRAME_SIZE, FRAME_SIZE)
    assert entry.info["training_env_steps"] == 500 and len(entry.info["evaluation_returns"]) == 2
    assert entry.info["controller_return"] is not None and entry.info["random_return"] is not None

    main(["repo", "list", "--repository", str(out)])
    listing = capsys.readouterr().out
    assert "racetrack-v0" in listing and TASK_ID in listing and "1x4x32x32" in listing
    main(["repo", "show", "racetrack-v0", "--repository", str(out)])
    shown = capsys.readouterr().out
    assert "evaluation return" in shown and "pi_encoder.net.mlp.0.weight" in shown
    main(["repo", "record", "racetrack-v0", "--repository", str(out), "--keep", "2", "--stacks-per-episode", "1"])
    assert "re-recorded 'racetrack-v0'" in capsys.readouterr().out
    assert SourceRepository.load(out)["racetrack-v0"].frames.shape[0] == 2
    with pytest.raises(SystemExit, match="no source entry 'kidney-v0'"):
        main(["repo", "record", "kidney-v0", "--repository", str(out)])

    with pytest.raises(SystemExit, match="already exists"):
        main(["repo", "add", "--checkpoint", str(checkpoint), "--task", TASK_ID, "--out", str(out),
              "--episodes", "1", "--keep", "1", "--frame-size", str(FRAME_SIZE)])
    with pytest.raises(SystemExit, match="index.json is missing"):
        main(["repo", "list", "--repository", str(tmp_path / "nowhere")])

    with pytest.raises(SystemExit, match="no source entry 'kidney-v0' in repository .*; entries: racetrack-v0"):
        main(["repo", "remove", "kidney-v0", "--repository", str(out)])
    main(["repo", "remove", "racetrack-v0", "--repository", str(out)])
    assert "removed 'racetrack-v0'" in capsys.readouterr().out
    assert json.loads((out / INDEX_FILE).read_text())["entries"] == [] and not (out / "racetrack-v0").exists()


def test_module_policy_matches_an_rllib_env_runner_without_exploration() -> None:
    """The actions RLlib itself takes at evaluation (explore=False), step for step on a real episode."""
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    config = (
        SACConfig()
        .environment(TASK_ID)
        .env_runners(num_env_runners=0, num_envs_per_env_runner=1)
        .rl_module(model_config={"fcnet_hiddens": [16, 16]})
    )
    runner = SingleAgentEnvRunner(config=config)
    try:
        episodes = runner.sample(num_timesteps=20, explore=False, random_actions=False)
        policy = module_policy(runner.module)
        for episode in episodes:
            for observation, action in zip(episode.get_observations()[:-1], episode.get_actions()):
                # RLlib stores the module's action; the env receives it unsquashed to [-1, 1] (clipped).
                np.testing.assert_allclose(policy(observation), np.clip(action, -1, 1), atol=1e-6)
    finally:
        runner.stop()
