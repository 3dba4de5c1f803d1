"""The public API: ``harness.__all__`` is sorted, every name resolves, everything public is documented."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import types
from typing import Any

import pytest

import harness


def _kind(name: str) -> int:
    """ruff RUF022's isort-style groups: SCREAMING_CASE, then CamelCase, then everything else."""
    if name.isupper() or (name.upper() == name and any(c.isalpha() for c in name)):
        return 0
    return 1 if name[:1].isupper() else 2


def _public_objects() -> dict[str, Any]:
    return {name: getattr(harness, name) for name in harness.__all__}


def _homes() -> list[str]:
    """The modules that define what ``harness`` exports (classes, functions, and the types of instances)."""
    homes = set()
    for value in _public_objects().values():
        if isinstance(value, str | types.ModuleType):
            continue
        owner = value if inspect.isclass(value) or inspect.isfunction(value) else type(value)
        homes.add(owner.__module__)
    return sorted(h for h in homes if h.split(".")[0] == "harness")


def _own_doc(obj: Any) -> str:
    """The object's own docstring: not inherited, and not the signature dataclasses invent."""
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else obj.__doc__
    if not isinstance(doc, str):
        return ""
    if inspect.isclass(obj) and doc.startswith(f"{obj.__name__}("):
        return ""  # @dataclass writes "Name(field: type, ...)" when the class has no docstring
    return doc.strip()


def test_all_is_sorted_and_unique() -> None:
    names = list(harness.__all__)
    assert len(names) == len(set(names))
    assert names == sorted(names, key=lambda n: (_kind(n), n))


def test_dir_lists_the_public_names() -> None:
    assert set(harness.__all__) <= set(dir(harness))


@pytest.mark.parametrize("name", harness.__all__)
def test_every_public_name_resolves_to_its_object_not_a_module(name: str) -> None:
    value = getattr(harness, name)
    assert value is not None
    # a submodule sharing a public name (harness.intercept) must not shadow the function
    assert not isinstance(value, types.ModuleType), f"harness.{name} is the module {value.__name__}"
    if inspect.isclass(value) or inspect.isfunction(value):
        home = importlib.import_module(value.__module__)
        assert getattr(home, value.__name__) is value


def test_importing_a_class_first_does_not_turn_intercept_into_its_module() -> None:
    # a fresh interpreter, so no earlier lookup in this process hides the order dependence
    code = (
        "import inspect\n"
        "from harness import Interceptor, intercept\n"
        "print('function' if inspect.isfunction(intercept) else repr(intercept))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "function"


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        harness.no_such_name  # noqa: B018


def test_the_version_is_a_string() -> None:
    assert isinstance(harness.__version__, str)
    assert harness.__version__.count(".") >= 1


@pytest.mark.parametrize("module", _homes())
def test_every_public_class_and_function_of_the_exporting_modules_has_a_docstring(module: str) -> None:
    loaded = importlib.import_module(module)
    assert (loaded.__doc__ or "").strip(), f"{module} has no module docstring"
    missing = []
    for name, value in vars(loaded).items():
        if name.startswith("_") or not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        if value.__module__ != module:
            continue  # imported from elsewhere: checked in its own home
        if not _own_doc(value):
            missing.append(name)
        if inspect.isclass(value):
            missing += [f"{name}.{attr}" for attr in _undocumented_members(value)]
    assert not missing, f"{module}: no docstring on {', '.join(missing)}"


def _undocumented_members(cls: type) -> list[str]:
    """Public methods and properties defined on ``cls`` itself that have no docstring."""
    found = []
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        fn = value.fget if isinstance(value, property) else value
        fn = fn.__func__ if isinstance(fn, staticmethod | classmethod) else fn
        if inspect.isfunction(fn) and not (fn.__doc__ or "").strip():
            found.append(attr)
    return found


def test_the_homes_cover_the_concepts() -> None:
    homes = set(_homes())
    assert {"harness.runner", "harness.scenario", "harness.plan", "harness.responder", "harness.slo"} <= homes
