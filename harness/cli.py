"""The ``harness`` command line: run scenarios, list faults, validate scenario files.

Exit codes: 0 every SLO held (or broke exactly as declared expected), 1 an SLO broke,
2 bad input (one line on stderr, never a traceback).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.errors import TargetError, UsageError

app = typer.Typer(
    name="harness",
    help="Chaos and regression test harness for model-backed pipelines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
scenarios_app = typer.Typer(help="Work with scenario files.", no_args_is_help=True)
app.add_typer(scenarios_app, name="scenarios")
cassettes_app = typer.Typer(help="Work with cassettes of recorded provider calls.", no_args_is_help=True)
app.add_typer(cassettes_app, name="cassettes")

PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(help="Scenario files or folders (default: the shipped catalogue).", show_default=False),
]


@app.command()
def run(
    paths: PathsArg = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            "-t",
            help="py:package.module:function or http://host:port/path "
            "(repeatable; default: the demo pipelines).",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed for every random choice (default: the scenario's).")
    ] = None,
    cases: Annotated[
        int | None, typer.Option(min=1, help="Cases per scenario (default: the scenario's).")
    ] = None,
    case: Annotated[int | None, typer.Option(min=0, help="Run only this case index (replay).")] = None,
    time_scale: Annotated[
        float | None, typer.Option(min=0.0, help="Real seconds slept per injected second (0 = account only).")
    ] = None,
    report_dir: Annotated[Path, typer.Option(help="Folder for reports/<run-id>/.")] = Path("reports"),
    run_id: Annotated[
        str | None, typer.Option(help="Name of the report folder (default: time and seed).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    target_cmd: Annotated[
        str | None,
        typer.Option(
            help="A command serving --target-url; launched per scenario with OPENAI_BASE_URL and "
            "ANTHROPIC_BASE_URL pointing at the fake provider, watched (RSS, crash, OOM) and stopped."
        ),
    ] = None,
    target_url: Annotated[
        str | None,
        typer.Option(help='The URL --target-cmd serves; each case POSTs {"input": <value>} to it.'),
    ] = None,
    target_memory_limit: Annotated[
        str | None,
        typer.Option(
            help="Kill --target-cmd's process tree (SIGKILL, as the OOM killer) past this RSS, e.g. 512MB."
        ),
    ] = None,
    provider_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Port of the fake provider for service targets (default: a free one for --target-cmd, "
            "9797 for an http:// target, which must use OPENAI_BASE_URL=http://127.0.0.1:9797/v1).",
        ),
    ] = None,
) -> None:
    """Run scenarios against pipelines (py:… or http://… targets, or --target-cmd) and judge their SLOs."""
    from harness.session import RunRequest, execute

    request = RunRequest(
        paths=list(paths or []),
        targets=list(target or []),
        seed=seed,
        cases=cases,
        only_case=case,
        time_scale=time_scale,
        report_dir=report_dir,
        run_id=run_id,
        progress=progress,
        argv=["harness", *sys.argv[1:]],
        target_cmd=target_cmd,
        target_url=target_url,
        target_memory_limit=target_memory_limit,
        provider_port=provider_port,
    )
    raise typer.Exit(execute(request, Console()))


@app.command()
def faults(
    layer: Annotated[
        str | None, typer.Option(help="Only faults of this layer: content, envelope, transport.")
    ] = None,
) -> None:
    """List the fault catalogue with what each fault reproduces and its parameters."""
    from harness.listing import print_faults

    print_faults(Console(), layer)


@app.command()
def serve(
    scenario: Annotated[Path, typer.Argument(help="The scenario file the fake provider serves.")],
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: a free one).")] = 0,
    host: Annotated[
        str, typer.Option(help="Address to bind; beyond loopback only with --token.")
    ] = "127.0.0.1",
    seed: Annotated[
        int | None, typer.Option(help="Seed for every random choice (default: the scenario's).")
    ] = None,
    time_scale: Annotated[
        float | None,
        typer.Option(min=0.0, help="Real seconds slept per injected second (default: the scenario's)."),
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="Control token for /_harness/ (Authorization: Bearer <token>).")
    ] = None,
) -> None:
    """Serve a scenario as a fake provider over HTTP (openai and anthropic paths, /_harness/ control)."""
    from harness.server import ProviderServer

    server = ProviderServer(scenario, host=host, port=port, seed=seed, time_scale=time_scale, token=token)
    described = server.provider.describe()
    print(f"harness: serving {described['name']} (seed {described['seed']}) on {server.url}")
    print(f"OPENAI_BASE_URL={server.openai_base_url}")
    print(f"ANTHROPIC_BASE_URL={server.anthropic_base_url}")
    print(f"control: {server.url}/_harness/  (Ctrl-C stops)", flush=True)
    server.serve_forever()


@scenarios_app.command("validate")
def validate(paths: Annotated[list[Path], typer.Argument(help="Scenario files or folders.")]) -> None:
    """Check scenario files; the first problem is reported as file: field: expectation (exit 2)."""
    from harness.scenario import load_scenarios

    console = Console()
    for scenario in load_scenarios(paths):
        console.print(f"[green]ok[/green] {scenario.path}  {scenario.name}  ({len(scenario.slos)} SLOs)")


@scenarios_app.command("list")
def list_scenarios(paths: PathsArg = None) -> None:
    """List scenarios with their descriptions (default: the shipped catalogue)."""
    from harness.listing import print_scenarios

    print_scenarios(Console(), list(paths or []))


@app.command()
def record(
    upstream: Annotated[str, typer.Option(help="The provider to forward to, e.g. https://api.openai.com.")],
    cassette: Annotated[Path, typer.Option(help="The cassette file to append the calls to (JSON).")],
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: a free one).")] = 0,
    redact_header: Annotated[
        list[str] | None, typer.Option(help="Another header whose value is redacted (repeatable).")
    ] = None,
    redact_pattern: Annotated[
        list[str] | None,
        typer.Option(
            help="A regex redacted wherever it matches; a group named 'secret' narrows it (repeatable)."
        ),
    ] = None,
) -> None:
    """Record a pipeline's provider calls through a proxy into a cassette, secrets redacted."""
    from harness.record import Recorder

    recorder = Recorder(
        upstream, cassette, port=port, redact_headers=redact_header, redact_patterns=redact_pattern
    )
    print(f"harness: recording {upstream} into {cassette} on {recorder.url}")
    print(f"OPENAI_BASE_URL={recorder.openai_base_url}")
    print(f"ANTHROPIC_BASE_URL={recorder.anthropic_base_url}")
    print("(Ctrl-C stops; the cassette is complete after every call)", flush=True)
    recorder.serve_forever()


@cassettes_app.command("import-vcr")
def import_vcr(
    source: Annotated[Path, typer.Argument(help="A VCR.py / pytest-recording cassette (YAML).")],
    cassette: Annotated[Path, typer.Option(help="The harness cassette to write (JSON).")],
    redact_header: Annotated[
        list[str] | None, typer.Option(help="Another header whose value is redacted (repeatable).")
    ] = None,
    redact_pattern: Annotated[
        list[str] | None, typer.Option(help="A regex redacted wherever it matches (repeatable).")
    ] = None,
) -> None:
    """Convert a VCR cassette's provider calls into a harness cassette, secrets redacted."""
    from harness.redact import Redactor
    from harness.vcr_import import import_vcr as convert

    count = convert(source, cassette, Redactor(redact_header or (), redact_pattern or ()))
    print(f"harness: {count} provider call(s) from {source} written to {cassette}")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: turns usage errors into one line and exit code 2.

    Typer (standalone mode) reports its own usage errors — unknown option, missing
    argument — with exit code 2 and exits; ours arrive here as :class:`UsageError`.
    """
    try:
        app(args=argv, prog_name="harness")
    except (UsageError, TargetError) as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return 0
