"""The transition replay buffer holds exactly the transitions RLlib's episode buffers would replay."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from ray.rllib.core.columns import Columns
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.replay_buffers.episode_replay_buffer import EpisodeReplayBuffer

from fast_rllib.training.replay import NStepAssembler, TransitionReplayBuffer
from fast_rllib.training.sum_tree import PriorityTrees

OBS_DIM, ACTION_DIM, GAMMA = 3, 1, 0.9


def _episode(length: int, *, terminated: bool, truncated: bool = False, seed: int = 0) -> SingleAgentEpisode:
    """An episode whose observation t is (t, seed, 0) and whose reward t is t + 1, easy to check by hand."""
    rng = np.random.default_rng(seed)
    episode = SingleAgentEpisode(observations=[np.array([0.0, seed, 0.0], np.float32)])
    for t in range(length):
        episode.add_env_step(
            observation=np.array([t + 1.0, seed, 0.0], np.float32),
            action=rng.uniform(-1, 1, ACTION_DIM).astype(np.float32),
            reward=float(t + 1),
            terminated=terminated and t == length - 1,
            truncated=truncated and t == length - 1,
        )
    return episode


def _chunks(episode: SingleAgentEpisode, sizes: list[int]) -> list[SingleAgentEpisode]:
    """Cut an episode the way an EnvRunner hands it over across ``sample()`` calls."""
    chunks, start = [], 0
    for size in sizes:
        chunks.append(episode[start : start + size])
        start += size
    return chunks


def _rows(transitions) -> set[tuple]:
    return {
        (int(obs[0]), int(obs[1]), round(float(reward), 4), int(next_obs[0]), bool(terminated), int(n))
        for obs, reward, next_obs, terminated, n in zip(
            transitions.observations,
            transitions.rewards,
            transitions.next_observations,
            transitions.terminateds,
            transitions.n_steps,
        )
    }


def test_one_step_transitions_mark_only_the_terminal_step() -> None:
    transitions = NStepAssembler(1, GAMMA).add_episode(_episode(4, terminated=True))
    assert _rows(transitions) == {(0, 0, 1.0, 1, False, 1), (1, 0, 2.0, 2, False, 1), (2, 0, 3.0, 3, False, 1), (3, 0, 4.0, 4, True, 1)}


def test_n_step_windows_shrink_at_a_truncation_and_bootstrap() -> None:
    transitions = NStepAssembler(3, GAMMA).add_episode(_episode(4, terminated=False, truncated=True))
    g = GAMMA
    assert _rows(transitions) == {
        (0, 0, round(1 + 2 * g + 3 * g**2, 4), 3, False, 3),
        (1, 0, round(2 + 3 * g + 4 * g**2, 4), 4, False, 3),
        (2, 0, round(3 + 4 * g, 4), 4, False, 2),
        (3, 0, 4.0, 4, False, 1),
    }


def test_n_step_windows_span_chunks_of_one_episode() -> None:
    episode = _episode(10, terminated=True)
    whole = NStepAssembler(3, GAMMA).add_episode(episode)
    assembler = NStepAssembler(3, GAMMA)
    pieces = [assembler.add_episode(chunk) for chunk in _chunks(episode, [4, 1, 5])]
    assert sum(len(piece) for piece in pieces) == len(whole) == 10
    assert set().union(*(_rows(piece) for piece in pieces)) == _rows(whole)
    assert assembler.pending_episodes == 0


def test_unfinished_chunks_wait_for_their_future() -> None:
    assembler = NStepAssembler(3, GAMMA)
    first = assembler.add_episode(_episode(10, terminated=False)[0:5])
    assert len(first) == 3 and assembler.pending_episodes == 1


def _stock_rows(episodes: list[SingleAgentEpisode], n_step: int) -> set[tuple]:
    """Transitions as RLlib's own EpisodeReplayBuffer samples them (600 draws cover every one)."""
    stock = EpisodeReplayBuffer(capacity=1000)
    stock.add([copy.deepcopy(episode).to_numpy() for episode in episodes])
    rows = set()
    for one in stock.sample(num_items=600, n_step=n_step, gamma=GAMMA, sample_episodes=True):
        observations = one.get_observations()
        rows.add(
            (
                int(observations[0][0]),
                int(observations[0][1]),
                round(float(one.get_rewards()[0]), 4),
                int(observations[-1][0]),
                bool(one.is_terminated),
                int(one.get_extra_model_outputs("n_step")[0]),
            )
        )
    return rows


@pytest.mark.parametrize("n_step", [1, 3])
def test_same_transitions_as_rllibs_episode_buffer(n_step: int) -> None:
    """RLlib's EpisodeReplayBuffer and ours replay the same transitions with the same n-step returns.

    One deliberate difference: RLlib 2.60 labels an n-step window cut short by the episode's end with the
    full ``n_step`` (so the learner discounts its bootstrap by gamma**n instead of gamma**k) and drops the
    terminal flag of a terminated episode's last window, so the learner bootstraps past the crash. Ours
    carries the true window length and the flag; only those end windows may differ, and only there.
    """
    lengths = {1: 7, 2: 5}
    episodes = [_episode(7, terminated=True, seed=1), _episode(5, terminated=False, truncated=True, seed=2)]
    assembler = NStepAssembler(n_step, GAMMA)
    ours = set().union(*(_rows(assembler.add_episode(episode)) for episode in episodes))
    theirs = _stock_rows(episodes, n_step)

    def split(rows: set[tuple]) -> tuple[set[tuple], set[tuple]]:
        at_end = {row for row in rows if row[0] + n_step > lengths[row[1]]}
        return rows - at_end, {row[:4] for row in at_end}

    (our_inner, our_end), (their_inner, their_end) = split(ours), split(theirs)
    assert our_inner == their_inner and our_end == their_end
    if n_step == 1:
        assert ours == theirs
    else:
        assert (6, 1, 7.0, 7, True, 1) in ours and (6, 1, 7.0, 7, False, 3) in theirs


def test_buffer_samples_a_train_batch_in_sacs_layout() -> None:
    buffer = TransitionReplayBuffer(100, OBS_DIM, ACTION_DIM, n_step=1, gamma=GAMMA, seed=0)
    buffer.add_episodes([_episode(6, terminated=True)])
    batch = buffer.sample(32)
    assert set(batch) == {Columns.OBS, Columns.NEXT_OBS, Columns.ACTIONS, Columns.REWARDS, Columns.TERMINATEDS, "weights", "n_step"}
    assert batch[Columns.OBS].shape == (32, OBS_DIM) and batch[Columns.ACTIONS].shape == (32, ACTION_DIM)
    np.testing.assert_array_equal(batch[Columns.NEXT_OBS][:, 0], batch[Columns.OBS][:, 0] + 1)
    np.testing.assert_array_equal(batch[Columns.REWARDS], batch[Columns.OBS][:, 0] + 1)
    np.testing.assert_array_equal(batch[Columns.TERMINATEDS], batch[Columns.OBS][:, 0] == 5)
    np.testing.assert_array_equal(batch["weights"], 1.0)


def test_discrete_actions_are_replayed_as_integers_in_dqns_layout() -> None:
    episode = SingleAgentEpisode(observations=[np.zeros(OBS_DIM, np.float32)])
    for t in range(6):
        episode.add_env_step(np.full(OBS_DIM, t + 1.0, np.float32), t % 3, 1.0, terminated=t == 5)
    buffer = TransitionReplayBuffer(100, OBS_DIM, 1, discrete_actions=True, n_step=1, gamma=GAMMA, seed=0)
    buffer.add_episodes([episode])
    batch = buffer.gather(np.arange(6))
    assert batch[Columns.ACTIONS].dtype == np.int64 and batch[Columns.ACTIONS].shape == (6,)
    np.testing.assert_array_equal(batch[Columns.ACTIONS], [0, 1, 2, 0, 1, 2])


def test_ring_buffer_keeps_the_newest_transitions() -> None:
    buffer = TransitionReplayBuffer(5, OBS_DIM, ACTION_DIM, seed=0)
    buffer.add_episodes([_episode(4, terminated=True, seed=1), _episode(4, terminated=True, seed=2)])
    assert len(buffer) == 5 and buffer.transitions_added == 8
    kept = {(int(row[1]), int(row[0])) for row in buffer.sample(500)[Columns.OBS]}
    assert kept == {(1, 3), (2, 0), (2, 1), (2, 2), (2, 3)}


def test_prioritized_sampling_follows_the_priorities() -> None:
    buffer = TransitionReplayBuffer(100, OBS_DIM, ACTION_DIM, prioritized=True, alpha=1.0, seed=0)
    buffer.add_episodes([_episode(4, terminated=True)])
    first = buffer.sample(4, beta=1.0)
    # Make transition 3 nine times as likely as each of the others.
    buffer.update_priorities(np.where(first[Columns.OBS][:, 0] == 3, 9.0, 1.0))
    batch = buffer.sample(12_000, beta=1.0)
    share = np.mean(batch[Columns.OBS][:, 0] == 3)
    assert share == pytest.approx(9 / 12, abs=0.02)
    # Importance weights undo the preference: the likeliest transition gets the smallest weight.
    assert batch["weights"][batch[Columns.OBS][:, 0] == 3].max() < batch["weights"][batch[Columns.OBS][:, 0] != 3].min()
    assert batch["weights"].max() == pytest.approx(1.0)


def test_priority_update_must_match_the_last_batch() -> None:
    buffer = TransitionReplayBuffer(100, OBS_DIM, ACTION_DIM, prioritized=True, seed=0)
    buffer.add_episodes([_episode(4, terminated=True)])
    buffer.sample(8)
    with pytest.raises(ValueError, match="got 3 TD errors but the last sampled batch had 8 transitions"):
        buffer.update_priorities(np.ones(3))


def test_sum_tree_finds_each_leaf_by_its_mass() -> None:
    trees = PriorityTrees(5)
    trees.set(np.arange(5), np.array([1.0, 0.0, 2.0, 3.0, 4.0]))
    assert trees.total == 10.0 and trees.minimum == 0.0
    found = trees.find_prefix_sums(np.array([0.5, 1.0, 2.9, 3.0, 5.9, 6.0, 9.99]))
    np.testing.assert_array_equal(found, [0, 2, 2, 3, 3, 4, 4])


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match=r"n_step=\(1, 3\) is not supported by the fast replay buffer"):
        NStepAssembler((1, 3), GAMMA)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="replay buffer capacity=0"):
        TransitionReplayBuffer(0, OBS_DIM, ACTION_DIM)
    with pytest.raises(ValueError, match="cannot sample from an empty replay buffer"):
        TransitionReplayBuffer(10, OBS_DIM, ACTION_DIM).sample(4)
