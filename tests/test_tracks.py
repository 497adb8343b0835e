"""Every racing track can be lapped by the lane follower; the track builder rejects bad geometry by name."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from highway_env.road.lane import CircularLane
from highway_env.road.road import RoadNetwork

from fast_rllib.tasks import get_task, make_task_env, task_ids
from fast_rllib.tasks.controller import LaneFollowingController
from fast_rllib.tasks.spec import DISCRETE_STEERING_ACTIONS
from fast_rllib.tasks.racing import GENERATED_TRACKS, track_geometry
from fast_rllib.tasks.track_builder import TrackGeometry, build_road_network, lap_length

# Long enough for a lap of the longest track (about 640 m on its outer lane) at 10 m/s.
LAP_DURATION_S = 90.0
INDIANA_RADIUS = 22.5
# The Indiana oval: two 80 m straights and two half-circles, turning left (counter-clockwise on screen).
OVAL_CORNERS = [(-INDIANA_RADIUS, 0), (80 + INDIANA_RADIUS, 0), (80 + INDIANA_RADIUS, -45), (-INDIANA_RADIUS, -45)]
# A teardrop whose apex is one very sharp corner: a 160 degree bend in a single arc.
TEARDROP_CORNERS = [(0, 0), (70, 0), (35, -35 / math.tan(math.radians(10)))]


def _drive_one_lap(env: gym.Env, controller: LaneFollowingController, seed: int = 0) -> int:
    """Drive until the ego has been on every edge and is back on the first; return the steps it took."""
    observation, _ = env.reset(seed=seed)
    vehicle = env.unwrapped.vehicle
    network = env.unwrapped.road.network
    edges = {(start, end) for start, ends in network.graph.items() for end in ends}
    visited = {vehicle.lane_index[:2]}
    for step in range(1, int(LAP_DURATION_S * 5) + 1):
        observation, _, terminated, truncated, _ = env.step(controller(observation))
        assert not terminated and vehicle.on_road, f"left the road on {vehicle.lane_index} after {step} steps"
        assert not truncated, f"no full lap in {LAP_DURATION_S} s: visited {len(visited)} of {len(edges)} edges"
        visited.add(vehicle.lane_index[:2])
        if visited == edges and vehicle.lane_index[:2] == ("a", "b"):
            return step
    raise AssertionError("unreachable: the episode is truncated first")


def _geometry(**overrides: Any) -> TrackGeometry:
    return TrackGeometry(**{"corners": OVAL_CORNERS, "radii": [INDIANA_RADIUS] * 4, **overrides})


# Laps ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task_id", task_ids("racing"))
def test_lane_follower_laps_every_racing_track(task_id: str) -> None:
    env = make_task_env(task_id, config={"other_vehicles": 0}, duration_s=LAP_DURATION_S)
    steps = _drive_one_lap(env, LaneFollowingController())
    assert steps > 50
    env.close()


@pytest.mark.parametrize("task_id", ["fast/indiana-v0", "fast/complex-v0"])
@pytest.mark.parametrize("action_mode", ["acceleration_steering", "discrete_steering"])
def test_lane_follower_laps_in_every_action_mode(task_id: str, action_mode: str) -> None:
    """With acceleration and steering (acceleration 0), and with 9 discrete steering angles (the discrete
    controller that sets DQN's bar)."""
    env = make_task_env(task_id, action_mode=action_mode, config={"other_vehicles": 0}, duration_s=LAP_DURATION_S)
    _drive_one_lap(env, LaneFollowingController(action_mode), seed=1)
    assert env.unwrapped.vehicle.speed == pytest.approx(10.0)
    env.close()


def test_lane_follower_laps_a_single_very_sharp_corner() -> None:
    track = {"corners": TEARDROP_CORNERS, "radii": [15, 15, 15], "lanes": 2, "lane_width": 5.0}
    env = make_task_env("fast/indiana-v0", config={"track": track, "other_vehicles": 0}, duration_s=LAP_DURATION_S)
    _drive_one_lap(env, LaneFollowingController())
    env.close()


def test_controller_steers_back_towards_the_lane_centre() -> None:
    observation = np.zeros(45, dtype=np.float32)
    observation[7] = 1.0  # right of the lane centre
    assert LaneFollowingController()(observation)[0] < 0
    assert LaneFollowingController("discrete_steering")(observation) < DISCRETE_STEERING_ACTIONS // 2
    action = LaneFollowingController("acceleration_steering")(observation)
    assert action.dtype == np.float32 and action.shape == (2,) and action[0] == 0 and action[1] < 0


# Generated tracks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", GENERATED_TRACKS, ids=lambda task: task.task_id)
def test_generated_tracks_are_closed_chains_of_continuous_lanes(task) -> None:
    geometry = track_geometry(task.config)
    network = build_road_network(geometry)
    node = "a"
    for _ in network.graph:
        (next_node,) = network.graph[node]
        (after,) = network.graph[next_node]
        for lane in range(geometry.lanes):
            current, following = network.get_lane((node, next_node, lane)), network.get_lane((next_node, after, lane))
            np.testing.assert_allclose(current.position(current.length, 0), following.position(0, 0), atol=1e-6)
        node = next_node
    assert node == "a"
    assert 250 < lap_length(geometry) < 650


def test_complex_track_has_eleven_sections_with_a_hairpin() -> None:
    network = build_road_network(track_geometry(get_task("fast/complex-v0").config))
    sections = [lanes[0] for ends in network.graph.values() for lanes in ends.values()]
    arcs = [section for section in sections if isinstance(section, CircularLane)]
    assert (len(sections), len(arcs)) == (11, 6)
    # The hairpin: two arcs back to back around the same centre, turning 180 degrees together.
    hairpins = [
        (first, second)
        for first, second in zip(sections, sections[1:] + sections[:1])
        if isinstance(first, CircularLane) and isinstance(second, CircularLane)
    ]
    assert len(hairpins) == 1
    first, second = hairpins[0]
    np.testing.assert_allclose(first.center, second.center)
    assert abs(second.end_phase - first.start_phase) == pytest.approx(math.pi)


def test_traffic_is_placed_as_configured_and_spread_out() -> None:
    env = make_task_env("fast/chicane-v0", config={"other_vehicles": 8, "other_vehicles_speed": [5.0, 6.0]})
    env.reset(seed=0)
    vehicles = env.unwrapped.road.vehicles
    assert len(vehicles) == 9
    assert all(5.0 <= vehicle.speed <= 6.0 for vehicle in vehicles[1:])
    positions = np.array([vehicle.position for vehicle in vehicles])
    gaps = np.linalg.norm(positions[:, None] - positions[None], axis=-1) + np.eye(len(vehicles)) * 1e9
    assert gaps.min() >= 20.0
    env.close()


@pytest.mark.parametrize(
    "config,match",
    [
        ({"other_vehicles": -1}, r"other_vehicles=-1 is not allowed; allowed values: an integer >= 0"),
        ({"other_vehicles_speed": [9.0, 6.0]}, r"other_vehicles_speed=\[9.0, 6.0\] is not allowed; allowed values: \[low, high\]"),
        ({"track": {"corners": OVAL_CORNERS, "radius": 20}}, r"track has unknown keys \['radius'\]; allowed keys: corners, radii"),
    ],
)
def test_bad_track_configs_are_named(config: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_task_env("fast/indiana-v0", config=config)  # highway-env resets, so builds, on construction


# Builder ------------------------------------------------------------------------------------------------


def test_indiana_lap_length_is_two_straights_and_a_circle() -> None:
    geometry = track_geometry(get_task("fast/indiana-v0").config)
    assert lap_length(geometry) == pytest.approx(2 * 80 + 2 * math.pi * INDIANA_RADIUS)
    assert 20 <= min(geometry.radii) - geometry.lane_width / 2 and max(geometry.radii) + geometry.lane_width / 2 <= 25


def test_clockwise_and_counter_clockwise_tracks_mirror_each_other() -> None:
    counter_clockwise = _geometry()
    clockwise = _geometry(corners=[(x, -y) for x, y in OVAL_CORNERS])
    lane_laps = {}
    for name, geometry in (("ccw", counter_clockwise), ("cw", clockwise)):
        network = build_road_network(geometry)
        lane_laps[name] = [
            sum(lanes[lane].length for ends in network.graph.values() for lanes in ends.values()) for lane in (0, 1)
        ]
    assert lap_length(clockwise) == pytest.approx(lap_length(counter_clockwise))
    # Lane 0 is on the left: the inside of a left-turning track and the outside of a right-turning one.
    assert lane_laps["ccw"] == pytest.approx(lane_laps["cw"][::-1])
    assert lane_laps["ccw"][0] == pytest.approx(lap_length(counter_clockwise) - 2 * math.pi * 2.5)


@pytest.mark.parametrize("task", GENERATED_TRACKS, ids=lambda task: task.task_id)
def test_vectorised_lane_lookup_matches_highway_env(task) -> None:
    network = build_road_network(track_geometry(task.config))
    corners = np.array(track_geometry(task.config).corners)
    rng = np.random.default_rng(0)
    for _ in range(300):
        position = rng.uniform(corners.min(axis=0) - 30, corners.max(axis=0) + 30)
        heading = None if rng.random() < 0.2 else rng.uniform(-4, 4)
        expected = RoadNetwork.get_closest_lane_index(network, position, heading)
        assert network.get_closest_lane_index(position, heading) == expected


def test_many_sections_get_distinct_node_names() -> None:
    count = 16
    corners = [(200 * math.cos(2 * math.pi * i / count), 200 * math.sin(2 * math.pi * i / count)) for i in range(count)]
    network = build_road_network(TrackGeometry(corners=corners, radii=[40] * count))
    assert len(network.graph) == 2 * count
    assert {"z", "aa"} <= set(network.graph)


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"lanes": 1}, r"lanes=1 is not allowed; allowed values: an integer >= 2"),
        ({"lane_width": 0}, r"lane_width=0 is not allowed; allowed values: > 0"),
        ({"speed_limit": -1}, r"speed_limit=-1 is not allowed; allowed values: > 0"),
        ({"radii": [22.5] * 3}, r"radii has 3 values for 4 corners; allowed: exactly one radius per corner"),
        ({"corners": OVAL_CORNERS[:2], "radii": [20, 20]}, r"corners has 2 points; allowed: at least 3 corners"),
        (
            {"corners": [*OVAL_CORNERS, OVAL_CORNERS[0]], "radii": [20] * 5},
            r"corners repeats its first point at the end; allowed: each corner once",
        ),
        (
            {"corners": [OVAL_CORNERS[0], OVAL_CORNERS[1], OVAL_CORNERS[1], OVAL_CORNERS[2]]},
            r"corners\[1\] and corners\[2\] coincide",
        ),
        (
            {"corners": [(0, 0), (50, 0), (100, 0), (100, -80), (0, -80)], "radii": [20] * 5},
            r"corners\[1\]=\(50.0, 0.0\) is collinear with its neighbours",
        ),
        (
            {"corners": [(0, 0), (200, 0), (0, -200), (200, -200)]},
            r"corners: edge 1 .* crosses edge 3; allowed: a simple \(non-self-intersecting\) polygon",
        ),
        ({"radii": [22.5, 22.5, 10.0, 22.5], "lanes": 3}, r"radii\[2\]=10 is too small for lanes=3 of lane_width=5.*allowed: radii >= 13 m"),
        ({"radii": [22.5, 30.0, 22.5, 22.5]}, r"radii\[1\]=30 and radii\[2\]=22.5 do not fit on the 45.0 m edge from corners\[1\] to corners\[2\]"),
    ],
)
def test_invalid_geometry_names_the_parameter(overrides: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _geometry(**overrides)
