"""``package.module:Name`` imports with one-line reasons."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.importing import ObjectImportError, import_object, split_spec


def test_imports_module_attribute_and_nested_attribute() -> None:
    assert import_object("json:dumps") is json.dumps
    assert import_object("harness.importing:ObjectImportError.__name__") == "ObjectImportError"


NOT_FOUND = "expected a module installed or under the working directory"


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("json", "expected 'package.module:Name'; got 'json'"),
        ("json:dumps:x", "expected 'package.module:Name'; got 'json:dumps:x'"),
        ("json:", "expected 'package.module:Name'; got 'json:'"),
        ("my-pkg:x", "expected 'package.module:Name'; got 'my-pkg:x'"),
        ("nowhere.at_all:Thing", f"no module named 'nowhere'; {NOT_FOUND}"),
        ("harness.nowhere:Thing", f"no module named 'harness.nowhere'; {NOT_FOUND}"),
        ("json:nothing", "'json' has no attribute 'nothing'"),
        ("json:dumps.nothing", "'json:dumps' has no attribute 'nothing'"),
    ],
)
def test_errors_are_one_line_usage_errors(spec: str, reason: str) -> None:
    with pytest.raises(ObjectImportError) as info:
        import_object(spec)
    assert str(info.value) == f"cannot import {spec!r}: {reason}"
    assert info.value.reason == reason
    assert isinstance(info.value, UsageError)
    assert isinstance(info.value, ImportError)


def test_what_leads_the_message() -> None:
    with pytest.raises(ObjectImportError, match=r"^--target json:nope: 'json' has no attribute 'nope'$"):
        import_object("json:nope", what="--target")


def test_missing_dependency_of_an_existing_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "needs_dep_mod.py").write_text("import not_installed_dependency_xyz\nX = 1\n")
    (tmp_path / "raises_mod.py").write_text("raise RuntimeError('config\\nmissing')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ObjectImportError) as info:
        import_object("needs_dep_mod:X")
    assert (
        info.value.reason
        == "module 'needs_dep_mod' needs 'not_installed_dependency_xyz', which is not installed"
    )
    with pytest.raises(ObjectImportError) as info:
        import_object("raises_mod:X")
    assert info.value.reason == "importing 'raises_mod' raised RuntimeError: config missing"
    sys.modules.pop("raises_mod", None)


def test_split_spec() -> None:
    assert split_spec(" pkg.mod : Name ") == ("pkg.mod", "Name")
