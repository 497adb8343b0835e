"""A misspelled ``training()`` keyword is a ``TypeError`` naming the nearest valid one."""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Mapping

from ray.rllib.algorithms.algorithm_config import NotProvided


def reject_unknown_keywords(config_class: type, kwargs: Mapping[str, Any]) -> None:
    """Raise as Python would for an unexpected keyword of ``config_class.training``, plus the nearest
    keyword any class of its hierarchy accepts (RLlib's own ``training()`` takes ``**kwargs`` and would
    otherwise accept a typo silently)."""
    valid = {
        name
        for klass in config_class.__mro__
        if "training" in vars(klass)
        for name in inspect.signature(klass.training).parameters
    } - {"self", "kwargs"}
    for key in kwargs:
        if key not in valid:
            nearest = difflib.get_close_matches(key, sorted(valid), n=1)
            hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
            raise TypeError(f"{config_class.__name__}.training() got an unexpected keyword argument {key!r}{hint}")


def provided_keys(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A ``training()`` call's own keys that were passed, from its ``locals()`` taken first thing (which
    hold exactly its parameters): the ones left at ``NotProvided`` keep the config's current values."""
    return {
        key: value
        for key, value in parameters.items()
        if key not in ("self", "kwargs", "__class__") and value is not NotProvided
    }
