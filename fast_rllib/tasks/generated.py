"""Generated racing tracks: ``fast/generated-<seed>-v0``, a closed track drawn from its seed alone.

Any process builds the same track from the id (no registration needed, on the driver or in a Ray worker):
a star-shaped polygon of 4 to 7 corners (some reflex, so bends go both ways), a fillet radius per corner,
2 to 4 lanes, a speed, traffic drawn from a range each episode, and a description assembled from the
geometry in the catalogue's words.

Seeds 0-99 are the **validation set**: tracks nobody tuned on, on which FAST's defaults are judged. No
default may be chosen on them.
"""

from __future__ import annotations

import math
import re

import numpy as np

from fast_rllib.tasks.racing import RACING_OBJECTIVE, RacingTrack
from fast_rllib.tasks.task import TaskInfo
from fast_rllib.tasks.track_builder import MIN_LANE_RADIUS, TrackGeometry, lap_length

GENERATED_ID = re.compile(r"^fast/generated-(\d+)-v0$")
VALIDATION_SEEDS = range(100)
# Bends whose centre-line radius is below this read as "tight" in a description (metres).
TIGHT_RADIUS_M = 20.0
# Attempts to draw a polygon whose fillets fit before the seed's stream moves on (deterministic per seed).
MAX_DRAWS = 200


def generated_task_id(seed: int) -> str:
    return f"fast/generated-{seed}-v0"


def generated_task(task_id: str) -> TaskInfo | None:
    """The generated track behind ``task_id``, or None if the id is not a generated one."""
    match = GENERATED_ID.match(task_id)
    return None if match is None else generate_track_task(int(match.group(1)))


def generate_track_task(seed: int) -> TaskInfo:
    rng = np.random.default_rng([seed, 20261130])
    for _ in range(MAX_DRAWS):
        track = _draw_track(rng)
        if track is not None:
            geometry, traffic, traffic_speed = track
            return RacingTrack(
                corners=geometry.corners, radii=geometry.radii, lanes=geometry.lanes, lane_width=geometry.lane_width,
                speed_limit=geometry.speed_limit, traffic=traffic, traffic_speed=traffic_speed,
                description=describe_track(geometry, traffic),
            ).task(generated_task_id(seed))
    raise RuntimeError(f"no valid track drawn for seed {seed} in {MAX_DRAWS} attempts")


def _draw_track(rng: np.random.Generator) -> tuple[TrackGeometry, tuple[int, int], tuple[float, float]] | None:
    corners_count = int(rng.integers(4, 8))
    gaps = rng.uniform(0.6, 1.4, corners_count)
    angles = np.cumsum(gaps / gaps.sum() * 2 * math.pi)
    distances = rng.uniform(35.0, 120.0, corners_count)
    # Half the tracks run the other way round: mostly left-hand bends instead of right-hand ones.
    mirror = -1.0 if rng.random() < 0.5 else 1.0
    corners = np.stack([distances * np.cos(angles), mirror * distances * np.sin(angles)], axis=1).round(1)
    lanes = int(rng.integers(2, 5))
    lane_width = float(rng.choice([4.0, 4.5, 5.0]))
    smallest = MIN_LANE_RADIUS + (lanes - 1) / 2 * lane_width + 1.0
    radii = rng.uniform(smallest, smallest + 30.0, corners_count).round(1)
    # The ego starts on the first edge: make it the longest one.
    lengths = np.linalg.norm(np.roll(corners, -1, axis=0) - corners, axis=1)
    first = int(np.argmax(lengths))
    corners, radii = np.roll(corners, -first, axis=0), np.roll(radii, -first)
    speed_limit = round(float(rng.uniform(8.0, 12.0)), 1)
    low = int(rng.integers(0, 3))
    traffic = (low, low + int(rng.integers(0, 3)))
    traffic_speed = (round(0.55 * speed_limit, 1), round(0.85 * speed_limit, 1))
    try:
        geometry = TrackGeometry(
            corners=[tuple(corner) for corner in corners], radii=list(radii), lanes=lanes,
            lane_width=lane_width, speed_limit=speed_limit,
        )
    except ValueError:
        return None
    return geometry, traffic, traffic_speed


def turn_directions(corners: tuple[tuple[float, float], ...]) -> list[str]:
    """"left" or "right" per corner, in highway-env's screen convention (y down: a heading that increases
    is a right-hand turn)."""
    points = np.asarray(corners)
    incoming = points - np.roll(points, 1, axis=0)
    outgoing = np.roll(points, -1, axis=0) - points
    cross = incoming[:, 0] * outgoing[:, 1] - incoming[:, 1] * outgoing[:, 0]
    return ["right" if value > 0 else "left" for value in cross]


def describe_track(geometry: TrackGeometry, traffic: tuple[int, int]) -> str:
    """A description in the catalogue's words, from the geometry alone."""
    directions = turn_directions(geometry.corners)
    lefts, rights = directions.count("left"), directions.count("right")
    tight = sum(radius < TIGHT_RADIUS_M for radius in geometry.radii)
    width = {2: "two-lane", 3: "wide three-lane", 4: "very wide four-lane"}[geometry.lanes]
    if min(lefts, rights) == 0:
        turns = f"{len(directions)} bends, all to the {directions[0]}"
    else:
        major, minor = ("left", "right") if lefts >= rights else ("right", "left")
        turns = f"{len(directions)} bends, {max(lefts, rights)} to the {major} and {min(lefts, rights)} to the {minor}"
    sharpness = (
        "all of them tight" if tight == len(directions)
        else "none of them tight, sweeping" if tight == 0
        else f"{tight} of them tight"
    )
    low, high = traffic
    cars = "no other cars" if high == 0 else f"{_count_words(low, high)} slower car{'s' if high > 1 else ''}"
    return (
        f"The ego-vehicle is driving at {geometry.speed_limit:.0f} m/s on a {width} closed racetrack of about "
        f"{_round_to(lap_length(geometry), 10):.0f} m with {turns}, {sharpness}, joined by straights, with "
        f"{cars}. {RACING_OBJECTIVE}"
    )


def _count_words(low: int, high: int) -> str:
    return f"{high}" if low == high else f"{low} to {high}" if low else f"up to {high}"


def _round_to(value: float, step: float) -> float:
    return step * round(value / step)


__all__ = ["VALIDATION_SEEDS", "describe_track", "generate_track_task", "generated_task", "generated_task_id"]
