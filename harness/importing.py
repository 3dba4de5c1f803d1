"""Import an object named ``package.module:Name`` (``Name`` may be dotted: ``mod:Outer.Inner``)."""

from __future__ import annotations

import importlib
from typing import Any

from harness.errors import UsageError

SPEC_EXPECTED = "'package.module:Name'"


class ObjectImportError(UsageError, ImportError):
    """An object path that is malformed, or whose module or attribute cannot be loaded."""

    def __init__(self, spec: str, reason: str, what: str | None = None) -> None:
        self.spec = spec
        self.reason = reason
        """Why, without the spec: ``no module named 'pkg'``."""
        head = f"{what} {spec}" if what else f"cannot import {spec!r}"
        super().__init__(f"{head}: {reason}")


def import_object(spec: str, *, what: str | None = None) -> Any:
    """The object ``spec`` names; raises :class:`ObjectImportError` with a one-line reason.

    ``what`` names where the spec came from (``--target``) and leads the message.
    """
    module_name, name = split_spec(spec, what=what)
    module = _import_module(spec, module_name, what)
    value: Any = module
    walked = module_name
    for part in name.split("."):
        if not hasattr(value, part):
            raise ObjectImportError(spec, f"{walked!r} has no attribute {part!r}", what)
        value = getattr(value, part)
        walked = f"{walked}:{part}" if walked == module_name else f"{walked}.{part}"
    return value


def split_spec(spec: str, *, what: str | None = None) -> tuple[str, str]:
    """``("package.module", "Name")`` from ``"package.module:Name"``, or an error naming the form."""
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ObjectImportError(str(spec), f"expected {SPEC_EXPECTED}; got {spec!r}", what)
    module_name, name = (part.strip() for part in spec.split(":"))
    if not _is_dotted_identifier(module_name) or not _is_dotted_identifier(name):
        raise ObjectImportError(spec, f"expected {SPEC_EXPECTED}; got {spec!r}", what)
    return module_name, name


def _import_module(spec: str, module_name: str, what: str | None) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        if module_name == missing or module_name.startswith(f"{missing}."):
            reason = (
                f"no module named {missing!r}; expected a module installed or under the working directory"
            )
            raise ObjectImportError(spec, reason, what) from None
        # The module exists but one of *its* imports is missing: say so, it is a different fix.
        reason = f"module {module_name!r} needs {missing!r}, which is not installed"
        raise ObjectImportError(spec, reason, what) from None
    except Exception as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise ObjectImportError(spec, f"importing {module_name!r} raised {reason}", what) from None


def _is_dotted_identifier(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))
