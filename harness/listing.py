"""Terminal listings of the fault catalogue and of scenario files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.errors import UsageError
from harness.faults import FAULTS, Layer


def params_summary(model: type[Any]) -> str:
    """``name=default`` for each parameter of a fault's parameter model."""
    parts = []
    for name, info in model.model_fields.items():
        default = "required" if info.is_required() else repr(info.get_default(call_default_factory=True))
        parts.append(f"{name}={default}")
    return ", ".join(parts) or "—"


def print_faults(console: Console, layer: str | None) -> None:
    """A table of every registered fault: layer, name, what it reproduces, parameters."""
    if layer is not None and layer not in {item.value for item in Layer}:
        raise UsageError(f"--layer {layer!r}: expected one of content, envelope, transport")
    table = Table(title="harness fault catalogue", show_lines=True)
    table.add_column("layer", no_wrap=True)
    table.add_column("fault", no_wrap=True)
    table.add_column("reproduces")
    table.add_column("params")
    faults = sorted(FAULTS.items.values(), key=lambda f: (list(Layer).index(f.layer), f.name))
    for item in faults:
        if layer is None or item.layer.value == layer:
            table.add_row(
                item.layer.value, item.name, item.doc.splitlines()[0], params_summary(item.params_model)
            )
    console.print(table)


def print_scenarios(console: Console, paths: list[Path]) -> None:
    """A table of scenarios: name, faults, SLOs and description."""
    from harness.demo import catalogue_dir
    from harness.scenario import load_scenarios

    table = Table(title="scenarios", show_lines=True)
    for column in ("scenario", "faults", "slos", "description"):
        table.add_column(column)
    for scenario in load_scenarios(paths or [catalogue_dir()]):
        table.add_row(
            scenario.name,
            ", ".join(sorted(scenario.fault_names)) or "clean",
            "\n".join(s.text for s in scenario.slos),
            scenario.description.strip(),
        )
    console.print(table)
