"""A parametric closed-track builder: a polygon with rounded corners becomes a highway-env road network.

A track is described by the corners of a closed polygon and one fillet radius per corner. Each corner is
replaced by the circular arc of that radius that is tangent to both of its edges, and what remains of each
edge becomes a straight. The resulting centre line is offset along its normal to give ``lanes`` parallel
lanes, and every piece becomes one edge of the road network, with consecutive node names ``a``, ``b``, ...
so that lanes continue edge to edge and the last edge returns to ``a``: vehicles drive laps, as on
highway-env's own racetracks.

Conventions (chosen so that a track and its mirror image have identical lanes and lap lengths):

- Radii are measured on the **centre line of the road** (midway between its two outer edges), so a turn
  to either side gives the same innermost lane radius, ``radius - (lanes - 1) / 2 * lane_width``.
- The polygon closes itself: the last corner connects back to the first, which must not be repeated.
- Edge ``a -> b`` is the straight that remains of the first polygon edge (``corners[0] -> corners[1]``);
  the racetrack environments spawn the ego-vehicle there, so it should be a reasonably long straight.
- Orientation follows highway-env's screen convention (the y axis points down when rendered): a corner
  where the heading increases is a right-hand, clockwise turn, as in ``CircularLane(clockwise=True)``.
  Both orientations, and any sequence of left and right turns, are accepted.
- Lane 0 lies on the left of the direction of travel and lane ``lanes - 1`` on the right, as in the stock
  racetracks, where the ego-vehicle starts on lane 0 or 1.
- Two corners whose fillets exactly use up the edge between them leave no straight there: two 90 degree
  corners ``2 * radius`` apart make a half-circle, the way an oval's bends or a hairpin are drawn.

The builder checks the polygon itself (corner count, coincident or collinear corners, crossing edges)
but not the clearance between distant sections of road; keep non-adjacent edges at least a road width
apart from each other.

The network is a :class:`TrackNetwork`, a ``RoadNetwork`` that finds a vehicle's lane with one numpy pass
over all lanes instead of a Python loop: the same answers, faster (benchmarks/env_speed.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from highway_env.road.lane import AbstractLane, CircularLane, LineType, StraightLane
from highway_env.road.road import RoadNetwork

# highway-env's kinematic bicycle (5 m long, steering within +-45 degrees) cannot turn tighter than about
# 5.6 m; 8 m on the innermost lane leaves a lane follower room to correct its errors.
MIN_LANE_RADIUS = 8.0
# Below this turn angle a corner is considered collinear with its neighbours (radians).
_MIN_TURN = 1e-3
# Tolerance when fillets of two corners exactly fill the edge between them (metres).
_LENGTH_TOLERANCE = 1e-6

Point = tuple[float, float]


class TrackNetwork(RoadNetwork):
    """A road network whose closest-lane look-up handles all lanes in one vectorised numpy pass.

    highway-env looks up every vehicle's lane at every simulation step (15 Hz) by computing, in Python, its
    distance to each lane of the network; on a track of many sections and lanes with traffic that loop is
    the largest cost of a step. This returns the same lane: the same distance
    (``AbstractLane.distance_with_heading`` with its heading weight of 1), the same tie-breaking (first
    lane in graph order). It supports the straight and circular lanes the builder makes.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lanes: _LaneArrays | None = None

    def add_lane(self, _from: str, _to: str, lane: AbstractLane) -> None:
        super().add_lane(_from, _to, lane)
        self._lanes = None

    def get_closest_lane_index(
        self, position: np.ndarray, heading: float | None = None
    ) -> tuple[str, str, int]:
        if self._lanes is None:
            self._lanes = _LaneArrays(self)
        return self._lanes.closest(position, heading)


class _LaneArrays:
    """The parameters of every lane of a network as arrays, in graph order (see :class:`TrackNetwork`).

    Straight lanes get a radius and turn direction of 1 so that the arc formulas, computed for every lane
    and then discarded for straights, never divide by zero.
    """

    def __init__(self, network: RoadNetwork) -> None:
        self.indexes = lane_indexes(network)
        lanes = [network.get_lane(index) for index in self.indexes]

        def column(arc: Callable[[CircularLane], Any], straight: Callable[[StraightLane], Any]) -> np.ndarray:
            return np.array([arc(lane) if isinstance(lane, CircularLane) else straight(lane) for lane in lanes], float)

        self.is_arc = np.array([isinstance(lane, CircularLane) for lane in lanes])
        self.origin = column(lambda arc: arc.center, lambda straight: straight.start)
        self.direction = column(lambda arc: (0.0, 0.0), lambda straight: straight.direction)
        self.lateral = column(lambda arc: (0.0, 0.0), lambda straight: straight.direction_lateral)
        self.straight_heading = column(lambda arc: 0.0, lambda straight: straight.heading)
        self.radius = column(lambda arc: arc.radius, lambda straight: 1.0)
        self.start_phase = column(lambda arc: arc.start_phase, lambda straight: 0.0)
        self.turn = column(lambda arc: arc.direction, lambda straight: 1.0)
        self.length = column(lambda arc: arc.length, lambda straight: straight.length)

    def closest(self, position: np.ndarray, heading: float | None) -> tuple[str, str, int]:
        delta = position - self.origin
        phase = self.start_phase + _wrap_to_pi(np.arctan2(delta[:, 1], delta[:, 0]) - self.start_phase)
        arc_longitudinal = self.turn * (phase - self.start_phase) * self.radius
        arc_lateral = self.turn * (self.radius - np.hypot(delta[:, 0], delta[:, 1]))
        longitudinal = np.where(self.is_arc, arc_longitudinal, np.sum(delta * self.direction, axis=1))
        lateral = np.where(self.is_arc, arc_lateral, np.sum(delta * self.lateral, axis=1))
        distance = np.abs(lateral) + np.maximum(longitudinal - self.length, 0) + np.maximum(-longitudinal, 0)
        if heading is not None:
            arc_heading = self.turn * longitudinal / self.radius + self.start_phase + np.pi / 2 * self.turn
            distance += np.abs(_wrap_to_pi(heading - np.where(self.is_arc, arc_heading, self.straight_heading)))
        return self.indexes[int(np.argmin(distance))]


def _wrap_to_pi(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def lane_indexes(network: RoadNetwork) -> list[tuple[str, str, int]]:
    """Every (from, to, lane) of a network, in graph order."""
    return [(start, end, i) for start, ends in network.graph.items() for end, lanes in ends.items() for i in range(len(lanes))]


@dataclass(frozen=True)
class TrackGeometry:
    """The shape of a closed track: a polygon, a fillet radius per corner, lanes and speed.

    ``corners`` are in metres, ``radii[i]`` is the centre-line radius of the bend at ``corners[i]``.
    Lists are accepted (configs are plain JSON-like values) and stored as tuples so that a geometry is
    hashable. Every invalid combination raises ``ValueError`` naming the parameter and what is allowed.
    """

    corners: tuple[Point, ...]
    radii: tuple[float, ...]
    lanes: int = 2
    lane_width: float = 5.0
    speed_limit: float = 10.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "corners", tuple((float(x), float(y)) for x, y in self.corners))
        object.__setattr__(self, "radii", tuple(float(radius) for radius in self.radii))
        _check_scalars(self)
        _check_polygon(self.corners)
        _check_radii(self)
        _check_fillets_fit(self)


@dataclass(frozen=True)
class _Bend:
    """The arc replacing one corner: where it starts and ends on the centre line, and how it turns."""

    entry: np.ndarray
    exit: np.ndarray
    centre: np.ndarray
    radius: float
    turn: float  # signed turn angle in radians, positive for a right-hand (clockwise) bend

    @property
    def tangent(self) -> float:
        return _tangent_length(self.radius, self.turn)

    @property
    def start_phase(self) -> float:
        offset = self.entry - self.centre
        return math.atan2(offset[1], offset[0])


def build_road_network(geometry: TrackGeometry) -> TrackNetwork:
    """Lay the track out as consecutive straight and arc edges, each carrying ``geometry.lanes`` lanes."""
    network = TrackNetwork()
    sections = list(_sections(geometry))
    for index, lanes in enumerate(sections):
        start, end = _node_name(index), _node_name((index + 1) % len(sections))
        for lane in lanes:
            network.add_lane(start, end, lane)
    return network


def lap_length(geometry: TrackGeometry) -> float:
    """Length of one lap along the centre line of the road (metres).

    A lane offset by ``d`` towards the inside of the track is ``2 * pi * d`` shorter, because a simple
    closed track turns by one full revolution in total.
    """
    bends = _bends(geometry)
    straights = sum(_straight_length(bend, next_bend) for bend, next_bend in _pairs(bends))
    arcs = sum(bend.radius * abs(bend.turn) for bend in bends)
    return straights + arcs


def _sections(geometry: TrackGeometry) -> Iterator[list[AbstractLane]]:
    """The lanes of each section in driving order: straight of edge 0, bend at corner 1, straight ..."""
    bends = _bends(geometry)
    for bend, next_bend in _pairs(bends):
        if _straight_length(bend, next_bend) > _LENGTH_TOLERANCE:
            yield _straight_lanes(bend.exit, next_bend.entry, geometry)
        yield _arc_lanes(next_bend, geometry)


def _node_name(index: int) -> str:
    """a, b, ..., z, aa, ab, ...: highway-env only needs distinct names, letters keep them readable."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("a") + remainder) + letters
    return letters


def _lane_offsets(geometry: TrackGeometry) -> list[float]:
    """Lateral offset of each lane centre from the road's centre line (lane 0 on the left)."""
    middle = (geometry.lanes - 1) / 2
    return [(lane - middle) * geometry.lane_width for lane in range(geometry.lanes)]


def _line_types(lane: int, lanes: int) -> tuple[int, int]:
    """Continuous outer edges, one stripe between neighbouring lanes (each lane draws its left side)."""
    left = LineType.CONTINUOUS if lane == 0 else LineType.STRIPED
    right = LineType.CONTINUOUS if lane == lanes - 1 else LineType.NONE
    return left, right


def _straight_lanes(start: np.ndarray, end: np.ndarray, geometry: TrackGeometry) -> list[AbstractLane]:
    normal = _right_normal(_unit(end - start))
    return [
        StraightLane(
            start + offset * normal,
            end + offset * normal,
            width=geometry.lane_width,
            line_types=_line_types(lane, geometry.lanes),
            speed_limit=geometry.speed_limit,
        )
        for lane, offset in enumerate(_lane_offsets(geometry))
    ]


def _arc_lanes(bend: _Bend, geometry: TrackGeometry) -> list[AbstractLane]:
    """Concentric arcs: a lane on the inside of the bend (the side it turns to) has a smaller radius."""
    side = math.copysign(1.0, bend.turn)
    return [
        CircularLane(
            bend.centre,
            bend.radius - side * offset,
            bend.start_phase,
            bend.start_phase + bend.turn,
            clockwise=bend.turn > 0,
            width=geometry.lane_width,
            line_types=_line_types(lane, geometry.lanes),
            speed_limit=geometry.speed_limit,
        )
        for lane, offset in enumerate(_lane_offsets(geometry))
    ]


def _bends(geometry: TrackGeometry) -> list[_Bend]:
    corners = [np.array(corner) for corner in geometry.corners]
    return [
        _bend(corners[i - 1], corners[i], corners[(i + 1) % len(corners)], geometry.radii[i])
        for i in range(len(corners))
    ]


def _bend(previous: np.ndarray, corner: np.ndarray, following: np.ndarray, radius: float) -> _Bend:
    incoming = _unit(corner - previous)
    outgoing = _unit(following - corner)
    turn = _turn_angle(incoming, outgoing)
    tangent = _tangent_length(radius, turn)
    entry = corner - tangent * incoming
    centre = entry + math.copysign(radius, turn) * _right_normal(incoming)
    return _Bend(entry, corner + tangent * outgoing, centre, radius, turn)


def _tangent_length(radius: float, turn: float) -> float:
    """Distance from a polygon corner to where its bend starts, and to where it ends."""
    return radius * math.tan(abs(turn) / 2)


def _pairs(bends: list[_Bend]) -> Iterator[tuple[_Bend, _Bend]]:
    """Each bend with the next one, starting at corner 0 so that edge a -> b is the first straight."""
    return zip(bends, bends[1:] + bends[:1])


def _straight_length(bend: _Bend, next_bend: _Bend) -> float:
    return float(np.linalg.norm(next_bend.entry - bend.exit))


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _right_normal(direction: np.ndarray) -> np.ndarray:
    """The lateral direction of highway-env lanes: the heading turned by +90 degrees (right on screen)."""
    return np.array([-direction[1], direction[0]])


def _turn_angle(incoming: np.ndarray, outgoing: np.ndarray) -> float:
    cross = incoming[0] * outgoing[1] - incoming[1] * outgoing[0]
    return math.atan2(cross, float(np.dot(incoming, outgoing)))


# Validation -------------------------------------------------------------------------------------------


def _check_scalars(geometry: TrackGeometry) -> None:
    if isinstance(geometry.lanes, bool) or not isinstance(geometry.lanes, int) or geometry.lanes < 2:
        raise ValueError(
            f"lanes={geometry.lanes!r} is not allowed; allowed values: an integer >= 2 "
            "(highway-env's racetracks spawn the ego-vehicle on lane 0 or 1)"
        )
    if not geometry.lane_width > 0:
        raise ValueError(f"lane_width={geometry.lane_width!r} is not allowed; allowed values: > 0 metres")
    if not geometry.speed_limit > 0:
        raise ValueError(f"speed_limit={geometry.speed_limit!r} is not allowed; allowed values: > 0 m/s")
    if len(geometry.radii) != len(geometry.corners):
        raise ValueError(
            f"radii has {len(geometry.radii)} values for {len(geometry.corners)} corners; "
            "allowed: exactly one radius per corner"
        )


def _check_polygon(corners: Sequence[Point]) -> None:
    if len(corners) < 3:
        raise ValueError(f"corners has {len(corners)} points; allowed: at least 3 corners of a closed polygon")
    if corners[0] == corners[-1]:
        raise ValueError(
            "corners repeats its first point at the end; allowed: each corner once, "
            "the polygon closes itself from the last corner back to the first"
        )
    for i, corner in enumerate(corners):
        j = (i + 1) % len(corners)
        if corner == corners[j]:
            raise ValueError(f"corners[{i}] and corners[{j}] coincide at {corner}; allowed: distinct corners")
    for i, corner in enumerate(corners):
        incoming = _unit(np.subtract(corner, corners[i - 1]))
        outgoing = _unit(np.subtract(corners[(i + 1) % len(corners)], corner))
        if not _MIN_TURN < abs(_turn_angle(incoming, outgoing)) < math.pi - _MIN_TURN:
            raise ValueError(
                f"corners[{i}]={corner} is collinear with its neighbours; allowed: corners where the "
                "track turns (drop the point, or move it off the line)"
            )
    _check_simple(corners)


def _check_simple(corners: Sequence[Point]) -> None:
    """Crossing edges would put two sections of road on top of each other, which highway-env cannot tell
    apart when it looks up a vehicle's lane. Only proper crossings are detected, not edges that touch."""
    count = len(corners)
    edges = [(np.array(corners[i]), np.array(corners[(i + 1) % count])) for i in range(count)]
    for i in range(count):
        for j in range(i + 2, count):
            if (j + 1) % count == i:
                continue  # adjacent edges share a corner
            if _segments_cross(*edges[i], *edges[j]):
                raise ValueError(
                    f"corners: edge {i} ({corners[i]} -> {corners[(i + 1) % count]}) crosses edge {j}; "
                    "allowed: a simple (non-self-intersecting) polygon"
                )


def _segments_cross(p: np.ndarray, q: np.ndarray, r: np.ndarray, s: np.ndarray) -> bool:
    def side(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    return side(p, q, r) * side(p, q, s) < 0 and side(r, s, p) * side(r, s, q) < 0


def _check_radii(geometry: TrackGeometry) -> None:
    half_road = (geometry.lanes - 1) / 2 * geometry.lane_width
    minimum = MIN_LANE_RADIUS + half_road
    for i, radius in enumerate(geometry.radii):
        if not radius >= minimum:
            raise ValueError(
                f"radii[{i}]={radius:g} is too small for lanes={geometry.lanes} of lane_width="
                f"{geometry.lane_width:g}: the innermost lane's radius would be {radius - half_road:g} m; "
                f"allowed: radii >= {minimum:g} m (centre-line radius, innermost lane >= {MIN_LANE_RADIUS:g} m)"
            )


def _check_fillets_fit(geometry: TrackGeometry) -> None:
    corners, radii, count = geometry.corners, geometry.radii, len(geometry.corners)
    for i, (bend, next_bend) in enumerate(_pairs(_bends(geometry))):
        j = (i + 1) % count
        edge = math.dist(corners[i], corners[j])
        if bend.tangent + next_bend.tangent > edge + _LENGTH_TOLERANCE:
            raise ValueError(
                f"radii[{i}]={radii[i]:g} and radii[{j}]={radii[j]:g} do not fit on the {edge:.1f} m edge "
                f"from corners[{i}] to corners[{j}]: their bends need {bend.tangent:.1f} m + "
                f"{next_bend.tangent:.1f} m of it; allowed: radii whose bends use at most the whole edge"
            )
