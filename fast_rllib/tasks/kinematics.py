"""The shared Kinematics observation, built with numpy instead of pandas, for every highway-env task.

highway-env's ``KinematicObservation.observe`` builds and clips a pandas DataFrame at every step, which
costs more than the rest of a racing step (physics, traffic and reward together): it was the single
largest cost of training and of the benchmarks' evaluations. :class:`FastKinematicObservation` builds
the same rows from the same ``to_dict`` and normalises them with the same ``normalize_obs``, in float64
as pandas does, so a racing policy sees bit-for-bit the observation it was trained on
(tests/test_kinematics.py compares the two on every racing task). :class:`FastKinematics` is the mixin
that gives an env class this observation.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from highway_env.envs.common.abstract import AbstractEnv
from highway_env.envs.common.observation import KinematicObservation
from highway_env.vehicle.kinematics import Vehicle
from highway_env.vehicle.objects import RoadObject


class FastKinematicObservation(KinematicObservation):
    """highway-env's Kinematics observation with the same values, built with numpy instead of pandas.

    One deliberate difference: a static obstacle (the merge's end-of-ramp block) has no heading or lane
    offsets in its ``to_dict``, which pandas turned into NaN; here they are its heading and its offsets
    from its lane. Racetracks have no obstacles, so there the two agree exactly.

    ``unobserved`` names features a task reports as 0 in every row: the spec's shape stays the same for
    every task, but a feature that only tells where on its particular road a car is, with values no
    other task shows, is left out (see :class:`FastKinematics`).
    """

    def __init__(self, env: AbstractEnv, unobserved: tuple[str, ...] = (), **config: Any) -> None:
        super().__init__(env, **config)
        unknown = sorted(set(unobserved) - set(self.features))
        if unknown:
            raise ValueError(
                f"unobserved features {unknown} are not observed features; allowed values: {', '.join(self.features)}"
            )
        self.unobserved = tuple(unobserved)

    def observe(self) -> np.ndarray:
        if not self.env.road:
            return np.zeros(self.space().shape, dtype=np.float32)
        ego = self.observer_vehicle
        others = self.env.road.close_objects_to(
            ego,
            self.env.PERCEPTION_DISTANCE,
            count=self.vehicles_count - 1,
            see_behind=self.see_behind,
            sort=self.order == "sorted",
            vehicles_only=not self.include_obstacles,
        )
        origin = None if self.absolute else ego
        rows = [_features(ego, None, self.observe_intentions)]
        rows += [_features(other, origin, self.observe_intentions) for other in others[-self.vehicles_count + 1 :]]
        columns = {name: np.array([row[name] for row in rows], dtype=np.float64) for name in self.features}
        if self.normalize:
            columns = self.normalize_obs(columns)
        for name in self.unobserved:
            columns[name] = np.zeros_like(columns[name])
        observation = np.zeros(self.space().shape)
        observation[: len(rows)] = np.stack([columns[name] for name in self.features], axis=1)
        if self.order == "shuffled":
            self.env.np_random.shuffle(observation[1:])
        return observation.astype(self.space().dtype)


class FastKinematics:
    """Mixin for a highway-env ``AbstractEnv`` subclass: a ``Kinematics`` observation config gets
    :class:`FastKinematicObservation`; any other observation type is left as highway-env builds it.

    ``UNOBSERVED_FEATURES`` are reported as 0 in every row: a task sets it for features that on its roads
    only say how far along one very long lane a car is (the motorways' ``long_off``, hundreds of metres,
    where every racetrack section keeps it within 0-140 m).
    """

    UNOBSERVED_FEATURES: ClassVar[tuple[str, ...]] = ()

    def define_spaces(self) -> None:
        super().define_spaces()
        observation = self.config["observation"]
        if observation["type"] == "Kinematics":
            self.observation_type = FastKinematicObservation(self, unobserved=self.UNOBSERVED_FEATURES, **observation)
            self.observation_space = self.observation_type.space()


def _features(thing: RoadObject, origin: Vehicle | None, observe_intentions: bool) -> dict[str, float]:
    features = thing.to_dict(origin, observe_intentions=observe_intentions)
    if "heading" not in features:  # a static obstacle
        features["heading"] = thing.heading
        features.update(zip(("long_off", "lat_off", "ang_off"), lane_offsets(thing)))
    return features


def lane_offsets(thing: RoadObject) -> tuple[float, float, float]:
    """(longitudinal, lateral, angular) offsets from the object's lane, as in ``Vehicle.lane_offset``."""
    longitudinal, lateral = thing.lane.local_coordinates(thing.position)
    return longitudinal, lateral, thing.lane.local_angle(thing.heading, longitudinal)
