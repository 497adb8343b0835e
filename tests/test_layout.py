"""The package layout keeps its promises: run-time code never imports build code, modules stay small, and
FAST's training keys are explicit keywords."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fast_rllib"
# What runs inside a training run (the driver, EnvRunners, the similarity service).
RUN_TIME = (
    "fast", "jump_start", "training", "service.py", "service_actor.py", "service_metrics.py", "batching.py",
    "atomic_write.py", "embedding", "repository", "tasks",
)
OFFLINE_PACKAGES = ("fast_rllib.build", "fast_rllib.commands")
MAX_MODULE_LINES = 400


def _modules(part: str) -> list[Path]:
    path = PACKAGE / part
    return [path] if path.is_file() else sorted(path.rglob("*.py"))


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("part", RUN_TIME)
def test_run_time_code_never_imports_build_code(part: str) -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in _modules(part)
        for name in sorted(_imported_modules(path))
        if name.startswith(OFFLINE_PACKAGES)
    ]
    assert not offenders, offenders


def test_importing_fast_loads_no_build_module() -> None:
    """The static check above sees direct imports; this one sees transitive ones too."""
    code = (
        "import sys, fast_rllib, fast_rllib.service; "
        "print(sorted(m for m in sys.modules if m.startswith(('fast_rllib.build', 'fast_rllib.commands'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {path: len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    too_long = {str(path.relative_to(PACKAGE)): lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert not too_long, too_long


def test_fast_config_training_names_every_fast_key() -> None:
    from fast_rllib import FASTConfig
    from fast_rllib.training import TransitionSACConfig

    keywords = set(inspect.signature(FASTConfig.training).parameters) - {"self", "kwargs"}
    assert {"similarity_threshold", "similarity_interval", "modality", "repository_path"} <= keywords
    # Every attribute FAST adds to SAC's config is a keyword, and every keyword is documented.
    fast_keys = set(vars(FASTConfig())) - set(vars(TransitionSACConfig()))
    assert fast_keys == keywords
    docstring = FASTConfig.training.__doc__
    assert all(f"{key}:" in docstring for key in keywords)
    with pytest.raises(TypeError, match="'similarity_treshold'; did you mean 'similarity_threshold'"):
        FASTConfig().training(similarity_treshold=0.5)
