"""A source's policy as data: weights in safetensors and the module's spec in JSON, never a pickle.

RLlib's own checkpoint (``RLModule.save_to_path``) pickles the module's class and constructor arguments and
its state, and unpickling runs whatever code the file names. A repository of policies is meant to be
shared, so an entry stores instead:

* ``module/spec.json``: the module class and catalog *by name*, looked up in :data:`MODULE_CLASSES` and
  :data:`CATALOG_CLASSES` (a name not in the allowlist is refused, never imported), the ``model_config``
  and ``inference_only``. The observation and action spaces are the entry's ``source.json`` ones.
* ``module/weights.safetensors``: ``module.get_state()`` as numpy arrays (a JSON header and raw bytes:
  reading it cannot run code).

Rebuilding is ``RLModuleSpec(...).build()`` followed by ``set_state``; the tensor names and shapes are
compared first, because ``set_state`` ignores missing keys on a full module.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Mapping

import gymnasium as gym
import numpy as np
from ray.rllib.core.rl_module.rl_module import RLModule, RLModuleSpec

from fast_rllib.repository.layout import SAFE_MODULE_FILES as SAFE_FILES
from fast_rllib.repository.layout import MODULE_DIR, SPEC_FILE, WEIGHTS_FILE, digest_problem, file_record

SPEC_FORMAT = "fast-rllib-module"
SPEC_FORMAT_VERSION = 1
# RLlib's EnvRunner bookkeeping, not a weight: never stored.
_SEQUENCE_KEY = "weights_seq_no"


def _sac_module() -> type:
    from ray.rllib.algorithms.sac.torch.default_sac_torch_rl_module import DefaultSACTorchRLModule

    return DefaultSACTorchRLModule


def _dqn_module() -> type:
    from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule

    return DefaultDQNTorchRLModule


def _sac_catalog() -> type:
    from ray.rllib.algorithms.sac.sac_catalog import SACCatalog

    return SACCatalog


def _dqn_catalog() -> type:
    from ray.rllib.algorithms.dqn.dqn_catalog import DQNCatalog

    return DQNCatalog


def _concat_q_catalog() -> type:
    from fast_rllib.training.q_network import ConcatQSACCatalog

    return ConcatQSACCatalog


# The only classes a spec may name. Imports are fixed code paths: a spec chooses among them by key.
MODULE_CLASSES: dict[str, Callable[[], type]] = {
    "DefaultSACTorchRLModule": _sac_module,
    "DefaultDQNTorchRLModule": _dqn_module,
}
CATALOG_CLASSES: dict[str, Callable[[], type]] = {
    "SACCatalog": _sac_catalog,
    "DQNCatalog": _dqn_catalog,
    "ConcatQSACCatalog": _concat_q_catalog,
}


class ModuleFileError(ValueError):
    """A stored module file is unusable; the message starts with ``module/<file>`` and says why."""


def _read_checked(directory: Path, file_name: str, recorded: Mapping[str, Any] | None) -> bytes:
    """The file's bytes, read once and compared with the SHA-256 source.json records for it (if any)."""
    try:
        data = (directory / file_name).read_bytes()
    except OSError as error:
        raise ModuleFileError(f"{MODULE_DIR}/{file_name}: unreadable ({type(error).__name__}: {error})") from None
    problem = digest_problem(file_name, data, recorded)
    if problem:
        raise ModuleFileError(problem)
    return data


def _allowlisted_name(cls: type | None, allowlist: Mapping[str, Callable[[], type]], what: str) -> str | None:
    if cls is None:
        return None
    for name, load in allowlist.items():
        if load() is cls:
            return name
    raise ValueError(
        f"{what} {cls.__module__}.{cls.__qualname__} cannot be stored as data: allowed {what}es are "
        f"{', '.join(sorted(allowlist))}"
    )


def _json_model_config(model_config: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(model_config) and not isinstance(model_config, type):
        model_config = dataclasses.asdict(model_config)
    model_config = dict(model_config or {})
    try:
        return json.loads(json.dumps(model_config, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ValueError(f"the module's model_config cannot be stored as JSON ({error})") from None


def module_spec(module: RLModule) -> dict[str, Any]:
    """What :file:`spec.json` holds for ``module``: allowlisted class names, model config, inference-only."""
    spec = RLModuleSpec.from_module(module.unwrapped())
    return {
        "format": SPEC_FORMAT,
        "format_version": SPEC_FORMAT_VERSION,
        "module_class": _allowlisted_name(spec.module_class, MODULE_CLASSES, "module class"),
        "catalog_class": _allowlisted_name(spec.catalog_class, CATALOG_CLASSES, "catalog class"),
        "inference_only": bool(spec.inference_only),
        "model_config": _json_model_config(spec.model_config),
    }


def module_weights(module: RLModule) -> dict[str, np.ndarray]:
    """``get_state()`` as C-contiguous numpy arrays (safetensors writes a strided view's raw buffer as is)."""
    state = module.unwrapped().get_state()
    return {key: np.ascontiguousarray(np.asarray(value)) for key, value in state.items() if key != _SEQUENCE_KEY}


def save_module(module: RLModule, directory: Path) -> dict[str, dict[str, Any]]:
    """Write :data:`SAFE_FILES` for ``module`` into ``directory`` (created); returns each file's record
    (size and SHA-256) for source.json."""
    from safetensors.numpy import save

    contents = {
        SPEC_FILE: (json.dumps(module_spec(module), indent=2) + "\n").encode("utf-8"),
        WEIGHTS_FILE: save(module_weights(module), metadata={"format": SPEC_FORMAT}),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for file_name, data in contents.items():
        (directory / file_name).write_bytes(data)
    return {file_name: file_record(data) for file_name, data in contents.items()}


def _spec_error(reason: str) -> ModuleFileError:
    return ModuleFileError(f"{MODULE_DIR}/{SPEC_FILE}: {reason}")


def read_spec(directory: Path, recorded: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The validated content of :file:`spec.json` (checked against its ``recorded`` SHA-256 when given);
    ModuleFileError naming what is wrong."""
    data = _read_checked(directory, SPEC_FILE, recorded)
    try:
        spec = json.loads(data.decode("utf-8"))
    except ValueError as error:
        raise _spec_error(f"unreadable ({type(error).__name__}: {error})") from None
    if not isinstance(spec, dict) or spec.get("format") != SPEC_FORMAT:
        raise _spec_error(f"not a {SPEC_FORMAT} spec")
    if spec.get("format_version") != SPEC_FORMAT_VERSION:
        version = spec.get("format_version")
        raise _spec_error(f"format_version {version!r}; this fast-rllib reads {SPEC_FORMAT_VERSION} only")
    if spec.get("module_class") not in MODULE_CLASSES:
        raise _spec_error(f"module_class {spec.get('module_class')!r} is not one of {', '.join(sorted(MODULE_CLASSES))}")
    if spec.get("catalog_class") is not None and spec["catalog_class"] not in CATALOG_CLASSES:
        raise _spec_error(f"catalog_class {spec['catalog_class']!r} is not one of {', '.join(sorted(CATALOG_CLASSES))}")
    if not isinstance(spec.get("model_config"), dict) or not isinstance(spec.get("inference_only"), bool):
        raise _spec_error("needs a model_config object and a boolean inference_only")
    return spec


def read_weights(directory: Path, recorded: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
    """The stored tensors by name (checked against their ``recorded`` SHA-256 when given); ModuleFileError
    when the file is missing, damaged or not safetensors."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    data = _read_checked(directory, WEIGHTS_FILE, recorded)
    try:
        return load(data)
    except (SafetensorError, ValueError) as error:
        raise ModuleFileError(f"{MODULE_DIR}/{WEIGHTS_FILE}: unreadable ({type(error).__name__}: {error})") from None


def build_module(spec: Mapping[str, Any], observation_space: gym.Space, action_space: gym.Space) -> RLModule:
    """A freshly initialised module of the spec's allowlisted class (weights not loaded yet)."""
    catalog = spec.get("catalog_class")
    return RLModuleSpec(
        module_class=MODULE_CLASSES[spec["module_class"]](),
        observation_space=observation_space,
        action_space=action_space,
        inference_only=spec["inference_only"],
        model_config=dict(spec["model_config"]),
        catalog_class=CATALOG_CLASSES[catalog]() if catalog is not None else None,
    ).build()


def weights_difference(weights: Mapping[str, np.ndarray], expected: Mapping[str, Any]) -> str | None:
    """None when ``weights`` has exactly the expected tensor names and shapes, else what differs."""
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    problems = [f"missing tensors {missing[:4]}"] if missing else []
    problems += [f"unexpected tensors {extra[:4]}"] if extra else []
    for key in sorted(set(weights) & set(expected)):
        if tuple(np.shape(weights[key])) != tuple(np.shape(expected[key])):
            problems.append(f"{key} has shape {tuple(np.shape(weights[key]))}, expected {tuple(np.shape(expected[key]))}")
    return "; ".join(problems[:6]) or None


def load_module(
    directory: Path, observation_space: gym.Space, action_space: gym.Space, recorded: Mapping[str, Any] | None = None
) -> RLModule:
    """Rebuild the stored module from :data:`SAFE_FILES` and the given spaces (files checked against their
    ``recorded`` SHA-256 when given); ModuleFileError if unusable."""
    spec = read_spec(directory, recorded)
    weights = read_weights(directory, recorded)
    try:
        module = build_module(spec, observation_space, action_space)
    except Exception as error:  # noqa: BLE001  (any failure to build from the spec means the spec is unusable)
        raise _spec_error(f"cannot build the module ({type(error).__name__}: {error})") from None
    # The module's own tensors (what get_state returns, without copying them to numpy first).
    expected = module.state_dict()
    if set(weights) - set(expected) and hasattr(module, "make_target_networks"):
        module.make_target_networks()  # a full learner-side module also stores its target networks
        expected = module.state_dict()
    difference = weights_difference(weights, expected)
    if difference:
        raise ModuleFileError(f"{MODULE_DIR}/{WEIGHTS_FILE}: does not fit the module {SPEC_FILE} describes: {difference}")
    module.set_state(weights)
    return module
