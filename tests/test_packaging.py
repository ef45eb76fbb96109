"""What the distribution declares: dependencies for every import, versions in step with tox.

``make package-check`` builds and installs the real wheel; these tests read the sources.
"""

from __future__ import annotations

import ast
import configparser
import itertools
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from django_taskq import get_connection

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - pytest brings tomli on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DEVELOPMENT_EXTRAS = {"dev", "docs"}


def third_party_imports() -> dict[str, set[str]]:
    """Top-level names of the non-stdlib modules that django_taskq imports, with the importing files."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "django_taskq").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top not in sys.stdlib_module_names and top not in {"django_taskq", "__future__"}:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def declared_distributions() -> set[str]:
    """Distributions a user can get: the dependencies and the extras meant for users."""
    requirements = list(PROJECT["dependencies"])
    for extra, extra_requirements in PROJECT["optional-dependencies"].items():
        if extra not in DEVELOPMENT_EXTRAS:
            requirements.extend(extra_requirements)
    return {canonicalize_name(Requirement(requirement).name) for requirement in requirements}


def test_every_imported_package_is_declared() -> None:
    distributions = packages_distributions()
    declared = declared_distributions()
    missing = {
        module: sorted(files)
        for module, files in third_party_imports().items()
        if not {canonicalize_name(name) for name in distributions.get(module, [module])} & declared
    }
    assert not missing, f"imported but neither a dependency nor a user extra in pyproject.toml: {missing}"


def test_croniter_is_a_dependency_and_django_redis_an_extra() -> None:
    hard = {canonicalize_name(Requirement(requirement).name) for requirement in PROJECT["dependencies"]}
    assert "croniter" in hard
    assert "django-redis" not in hard
    assert [Requirement(r).name for r in PROJECT["optional-dependencies"]["django-redis"]] == ["django-redis"]


def tox_environments() -> list[str]:
    """tox.ini's envlist, brace factors expanded: ``py{310,311}-django52`` gives two names."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "tox.ini")
    names = []
    for entry in re.split(r"[\s,]+(?![^{]*})", parser["tox"]["envlist"].strip()):
        parts = re.split(r"\{([^}]*)\}", entry)
        choices = [part.split(",") if index % 2 else [part] for index, part in enumerate(parts)]
        names.extend("".join(combination) for combination in itertools.product(*choices))
    return names


def classifier_versions(prefix: str) -> set[str]:
    """``{"3.10", ...}`` from ``Programming Language :: Python :: 3.10`` classifiers and the like."""
    pattern = re.escape(prefix) + r"(\d+\.\d+)"
    return {match[1] for match in (re.fullmatch(pattern, c) for c in PROJECT["classifiers"]) if match}


def test_classifiers_match_the_tox_environments() -> None:
    environments = [re.fullmatch(r"py(\d)(\d+)-django(\d)(\d)", name) for name in tox_environments()]
    assert all(environments), tox_environments()
    pythons = {f"{m[1]}.{m[2]}" for m in environments if m}
    djangos = {f"{m[3]}.{m[4]}" for m in environments if m}
    assert classifier_versions("Programming Language :: Python :: ") == pythons
    assert classifier_versions("Framework :: Django :: ") == djangos
    assert PROJECT["requires-python"] == f">={min(pythons, key=lambda v: tuple(map(int, v.split('.'))))}"


def test_license_file_is_declared() -> None:
    assert PROJECT["license"] == "BSD-3-Clause"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert "BSD 3-Clause License" in (ROOT / "LICENSE").read_text()


def test_use_redis_cache_with_django_redis_uses_its_public_helper() -> None:
    from django_redis import get_redis_connection

    with override_settings(RQ_QUEUES={"default": {"USE_REDIS_CACHE": "django-redis"}}):
        assert get_connection().connection_pool is get_redis_connection("django-redis").connection_pool


def test_use_redis_cache_with_django_s_cache_needs_no_django_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "django_redis", None)  # as if the extra were not installed
    with override_settings(RQ_QUEUES={"default": {"USE_REDIS_CACHE": "builtin-redis"}}):
        client = get_connection()
        assert client.connection_pool.connection_kwargs["db"] == 4  # tests.settings: builtin-redis is db 4
        assert client.ping()
