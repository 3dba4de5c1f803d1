"""The case a fuzz run varies: one input, source and contract; only the fault chain and reply seed change.

A :class:`FuzzCase` is a scenario without faults. Every example of ``harness fuzz`` is
that scenario plus one fault chain at rate 1 (every model call of the case gets it)
and one seed for the generated reply, so a failing example *is* a one-case scenario
file: :meth:`FuzzCase.document` writes it, ``harness run`` and ``harness replay`` read
it back, and the bytes served are the same as during the search.

The case comes from a scenario file (its provider, source, contract, first input and
case timeout; its faults are ignored) or from command-line options: a contract given
as ``package.module:Model`` or a JSON Schema file, a source likewise (default: the
contract's model or schema), declared errors and one input.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ScenarioError, UsageError
from harness.faults.base import FaultUse
from harness.scenario import Scenario, parse_scenario, read_yaml
from harness.scenario_schema import SCENARIO_VERSION

DEFAULT_INPUT = (
    "Please sign up Ada Lovelace (ada.lovelace@example.com) on the pro plan, "
    "account 1815, starting today, 2024-03-01."
)
"""The pipeline input when neither ``--input`` nor a scenario gives one."""
DEFAULT_CASE_TIMEOUT = 60.0
"""Scenario-time seconds an example may take before it counts as a hang (the scenario default)."""
REGRESSION_SLOS: tuple[str, ...] = (
    "garbage_passed == 0",
    "undeclared_errors == 0",
    "timeouts == 0",
    "crashes == 0",
)
"""What a saved case asserts: the failure it captured must not happen (a declared error is fine)."""
_SCHEMA_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True)
class FuzzCase:
    """A scenario without faults: provider, source, contract, one input and the case timeout."""

    source: Mapping[str, Any]
    """The ``source:`` mapping of the scenario format (cassette paths absolute)."""
    contract: Mapping[str, Any]
    """The ``contract:`` mapping (schema or model, allowed_errors)."""
    input: Any = DEFAULT_INPUT
    provider: str = "openai-chat"
    case_timeout: float = DEFAULT_CASE_TIMEOUT
    origin: str = "harness fuzz"
    """Where the case came from (a scenario path or the command line), named in errors."""
    _built: dict[str, Scenario] = field(default_factory=dict, compare=False, repr=False)

    def document(
        self,
        chain: Sequence[FaultUse] = (),
        reply_seed: int = 0,
        *,
        name: str = "fuzz-case",
        description: str = "A case found by harness fuzz.",
        relative_to: Path | None = None,
    ) -> dict[str, Any]:
        """The one-case scenario document for ``chain`` on reply seed ``reply_seed`` (version 1)."""
        doc: dict[str, Any] = {
            "version": SCENARIO_VERSION,
            "name": name,
            "description": description,
            "provider": self.provider,
            "seed": reply_seed,
            "cases": 1,
            "case_timeout": f"{self.case_timeout:g}s",
            "time_scale": 0.0,
            "source": _relative_source(self.source, relative_to),
        }
        if chain:
            doc["faults"] = [{"chain": [use_document(use) for use in chain], "rate": 1.0}]
        doc["inputs"] = [copy.deepcopy(self.input)]
        doc["contract"] = copy.deepcopy(dict(self.contract))
        doc["slos"] = list(REGRESSION_SLOS)
        return doc

    def scenario(self) -> Scenario:
        """The case as a runnable scenario with no faults (validated; built once)."""
        if "base" not in self._built:
            self._built["base"] = parse_scenario(self.document(), Path(self.origin))
        return self._built["base"]

    def validate(self) -> FuzzCase:
        """Check the case loads (source, contract, provider); a problem is one UsageError line."""
        self.scenario()
        return self


def changed_params(use: FaultUse) -> dict[str, Any]:
    """The parameters of ``use`` that differ from the fault's defaults, as JSON values."""
    return use.params.model_dump(mode="json", exclude_defaults=True)


def use_document(use: FaultUse) -> dict[str, Any]:
    """``{fault: name, params: {...}}`` with the parameters that differ from the fault's defaults."""
    params = changed_params(use)
    return {"fault": use.fault.name, "params": params} if params else {"fault": use.fault.name}


def chain_from_document(entries: Sequence[Mapping[str, Any]]) -> tuple[FaultUse, ...]:
    """The inverse of :func:`use_document` over a chain."""
    return tuple(FaultUse.of(str(e["fault"]), e.get("params")) for e in entries)


def case_name(outcome: str, error_type: str | None, chain: Sequence[FaultUse], document: Any) -> str:
    """A scenario name for a saved case: outcome, error, faults and a short digest (stable, unique)."""
    words = [outcome, error_type or "", *(u.fault.name for u in chain)]
    slug = re.sub(r"[^a-z0-9]+", "-", "-".join(w for w in words if w).lower()).strip("-")
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:6]
    return f"fuzz-{slug[:60].rstrip('-')}-{digest}"


# --- building the case from the command line ---------------------------------------------------


def case_from_scenario(path: Path, *, seed: int = 0) -> FuzzCase:
    """Provider, source, contract, first input and case timeout of the scenario file ``path``."""
    from harness.scenario import load_scenario

    scenario = load_scenario(path)  # validates the whole file first: errors name its fields
    raw = read_yaml(path.read_text(encoding="utf-8"), str(path))
    source = dict(raw["source"])
    if "cassette" in source:
        source["cassette"] = os.path.normpath(path.resolve().parent / str(source["cassette"]))
    return FuzzCase(
        source=source,
        contract=dict(raw["contract"]),
        input=scenario.make_inputs(seed, 1)[0],
        provider=scenario.provider,
        case_timeout=scenario.case_timeout,
        origin=str(path),
    )


def case_from_options(
    *,
    scenario: Path | None = None,
    contract: str | None = None,
    source: str | None = None,
    allowed_errors: Sequence[str] = (),
    input_text: str | None = None,
    provider: str | None = None,
    case_timeout: float | None = None,
    seed: int = 0,
) -> FuzzCase:
    """The fuzz case from ``--scenario`` and/or ``--contract``/``--source``/``--allowed-error``/``--input``.

    Options given beside ``--scenario`` override its values. Without a scenario the
    contract is required and the source defaults to it (replies generated from the same
    model or schema the output must keep).
    """
    if scenario is None and contract is None:
        raise UsageError(
            "harness fuzz: expected --contract (package.module:Model or a JSON Schema file) or --scenario"
        )
    base = case_from_scenario(scenario, seed=seed) if scenario is not None else None
    contract_doc: dict[str, Any] = dict(base.contract) if base else {}
    if contract is not None:
        contract_doc = {
            **_spec_of(contract, "--contract"),
            "allowed_errors": contract_doc.get("allowed_errors", []),
        }
    if allowed_errors:
        contract_doc["allowed_errors"] = [*contract_doc.get("allowed_errors", []), *allowed_errors]
    if source is not None:
        source_doc = _spec_of(source, "--source")
    elif base is not None:
        source_doc = dict(base.source)
    else:
        source_doc = {k: v for k, v in contract_doc.items() if k in ("model", "schema")}
    case = FuzzCase(
        source=source_doc,
        contract=contract_doc,
        input=input_text if input_text is not None else (base.input if base else DEFAULT_INPUT),
        provider=provider or (base.provider if base else "openai-chat"),
        case_timeout=case_timeout or (base.case_timeout if base else DEFAULT_CASE_TIMEOUT),
        origin=base.origin if base else "harness fuzz",
    )
    try:
        return case.validate()
    except ScenarioError as exc:
        raise UsageError(f"harness fuzz: {_option_of(exc.field, source)}: {exc.expected}") from None


def _option_of(field: str, source: str | None) -> str:
    """The command-line option a field of the built case came from (the scenario file loaded cleanly)."""
    head = re.split(r"[.\[]", field, maxsplit=1)[0]
    if head == "source":
        return "--source" if source is not None else "--contract"
    if head == "contract":
        return "--allowed-error" if "allowed_errors" in field else "--contract"
    return {"provider": "--provider", "inputs": "--input"}.get(head, field)


def _spec_of(value: str, option: str) -> dict[str, Any]:
    """``{model: value}`` for ``package.module:Model``, ``{schema: …}`` for a JSON Schema file."""
    path = Path(value)
    if path.suffix.lower() in _SCHEMA_SUFFIXES:
        if not path.is_file():
            raise UsageError(f"{option} {value}: expected a JSON Schema file; no such file")
        schema = read_yaml(path.read_text(encoding="utf-8"), str(path))  # YAML is a superset of JSON
        if not isinstance(schema, dict):
            raise UsageError(f"{option} {value}: expected a JSON Schema object; got {type(schema).__name__}")
        return {"schema": schema}
    if value.count(":") == 1:
        return {"model": value}
    raise UsageError(
        f"{option} {value!r}: expected package.module:Model or a JSON Schema file (.json, .yaml)"
    )


def _relative_source(source: Mapping[str, Any], relative_to: Path | None) -> dict[str, Any]:
    """The source mapping, a cassette path made relative to the folder a case file is written to."""
    doc = copy.deepcopy(dict(source))
    if relative_to is not None and "cassette" in doc:
        doc["cassette"] = os.path.relpath(str(doc["cassette"]), relative_to)
    return doc
