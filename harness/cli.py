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
            "ANTHROPIC_BASE_URL pointing at the fake provider, watched (RSS, crash, OOM) and stopped. "
            "'demo' (or demo:naive, demo:hardened): the bundled demo service on a free port, capped at "
            "200MB, running the huge-payload scenario unless scenarios are given."
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

    server = ProviderServer(
        scenario, host=host, port=port, seed=seed, time_scale=time_scale, token=token, quiet_gc=True
    )
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


@app.command()
def fuzz(
    target: Annotated[str, typer.Option("--target", "-t", help="The pipeline: py:package.module:function.")],
    contract: Annotated[
        str | None,
        typer.Option(help="The output contract: package.module:Model or a JSON Schema file (.json/.yaml)."),
    ] = None,
    scenario: Annotated[
        Path | None,
        typer.Option(help="Take provider, source, contract, input and case timeout from this scenario file."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            help="Clean replies from package.module:Model or a JSON Schema file (default: contract)."
        ),
    ] = None,
    allowed_error: Annotated[
        list[str] | None,
        typer.Option(help="A declared clean error, package.module:Exception (repeatable)."),
    ] = None,
    input_text: Annotated[
        str | None, typer.Option("--input", help="The pipeline input (default: a sign-up sentence).")
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help="Dialect whose faults to draw: openai-chat, openai-responses, …")
    ] = None,
    max_examples: Annotated[int, typer.Option(min=1, help="Examples the search runs.")] = 200,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the search (same seed, same classes).")] = 0,
    max_faults: Annotated[int, typer.Option(min=1, help="Longest fault chain drawn.")] = 3,
    only: Annotated[list[str] | None, typer.Option(help="Draw only this fault (repeatable).")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Never draw this fault (repeatable).")] = None,
    case_timeout: Annotated[
        str | None, typer.Option(help="Scenario time an example may take before it is a hang (default 60s).")
    ] = None,
    report_dir: Annotated[Path, typer.Option(help="Folder for reports/<run-id>/.")] = Path("reports"),
    run_id: Annotated[str | None, typer.Option(help="Report folder name (default: time and seed).")] = None,
    save_cases: Annotated[
        Path | None, typer.Option(help="Write each minimal failing case here as a scenario file.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Search fault chains for the ways a pipeline breaks; shrink each to its minimal chain."""
    from harness.fuzz_session import FuzzRequest, execute_fuzz

    request = FuzzRequest(
        target=target,
        scenario=scenario,
        contract=contract,
        source=source,
        allowed_errors=list(allowed_error or []),
        input=input_text,
        provider=provider,
        case_timeout=case_timeout,
        seed=seed,
        max_examples=max_examples,
        max_faults=max_faults,
        only=list(only or []),
        exclude=list(exclude or []),
        report_dir=report_dir,
        run_id=run_id,
        save_cases=save_cases,
        progress=progress,
        argv=["harness", *sys.argv[1:]],
    )
    raise typer.Exit(execute_fuzz(request, Console()))


@app.command()
def replay(
    case: Annotated[str, typer.Argument(help="reports/<run-id>/report.json#<class> or a saved case file.")],
    target: Annotated[
        str | None,
        typer.Option("--target", "-t", help="py:… or http://… (default: the report's target)."),
    ] = None,
    target_cmd: Annotated[
        str | None, typer.Option(help="A command serving --target-url, launched for the replay.")
    ] = None,
    target_url: Annotated[str | None, typer.Option(help="The URL --target-cmd serves.")] = None,
) -> None:
    """Re-run one saved failing case: exit 1 if it still fails, 0 if it is fixed."""
    from harness.replay import replay as replay_case

    raise typer.Exit(
        replay_case(case, Console(), target=target, target_cmd=target_cmd, target_url=target_url)
    )


@app.command()
def load(
    scenario: Annotated[Path, typer.Argument(help="The scenario file (its load: block gives the defaults).")],
    target: Annotated[
        str | None,
        typer.Option("--target", "-t", help="http://host:port/path (a running service) or py:pkg.mod:fn."),
    ] = None,
    target_cmd: Annotated[
        str | None, typer.Option(help="A command serving --target-url, launched and watched (RSS, OOM).")
    ] = None,
    target_url: Annotated[str | None, typer.Option(help="The URL --target-cmd serves.")] = None,
    target_memory_limit: Annotated[
        str | None, typer.Option(help="Kill the launched target's process tree past this RSS, e.g. 512MB.")
    ] = None,
    users: Annotated[int | None, typer.Option(min=1, help="Concurrent Locust users.")] = None,
    spawn_rate: Annotated[float | None, typer.Option(min=0.001, help="Users started per second.")] = None,
    duration: Annotated[str | None, typer.Option(help="How long to push, e.g. 30s or 2m.")] = None,
    pacing: Annotated[
        str | None, typer.Option(help="Time between one user's request starts, e.g. 500ms (0: back to back).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of inputs and faults (default: the scenario's).")
    ] = None,
    time_scale: Annotated[
        float | None, typer.Option(min=0.0, help="Real seconds the provider sleeps per injected second.")
    ] = None,
    abort_on_fail: Annotated[
        bool | None, typer.Option(help="Stop early once an SLO stays broken for the grace period.")
    ] = None,
    grace: Annotated[str | None, typer.Option(help="Grace period of --abort-on-fail, e.g. 10s.")] = None,
    report_dir: Annotated[Path, typer.Option(help="Folder for reports/<run-id>/.")] = Path("reports"),
    run_id: Annotated[str | None, typer.Option(help="Report folder name (default: time and seed).")] = None,
    provider_port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Port of the fake provider (default: free, or 9797).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show the live view.")] = True,
    workers: Annotated[
        int, typer.Option(min=0, help="Locust worker processes on this machine (0: one process).")
    ] = 0,
    master: Annotated[
        bool, typer.Option("--master", help="Be the master of workers started elsewhere.")
    ] = False,
    expect_workers: Annotated[
        int | None, typer.Option(min=1, help="With --master: workers to wait for (default 1).")
    ] = None,
    master_bind_host: Annotated[
        str | None, typer.Option(help="With --master: interface to listen on (default: all).")
    ] = None,
    worker: Annotated[
        bool, typer.Option("--worker", help="Be a worker: send load for the master at --master-host.")
    ] = False,
    master_host: Annotated[str | None, typer.Option(help="With --worker: the master's address.")] = None,
    master_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="The master's port (default 5557).")
    ] = None,
) -> None:
    """Load-test a pipeline service with Locust while the fake provider misbehaves; SLOs gate the run."""
    from harness.load.distributed import Topology, serve_worker
    from harness.load.plan import load_request, plan_load

    topology = Topology.from_options(
        workers=workers,
        master=master,
        worker=worker,
        expect_workers=expect_workers,
        master_host=master_host,
        master_bind_host=master_bind_host,
        master_port=master_port,
    )

    request = load_request(
        scenario=scenario,
        target=target,
        target_cmd=target_cmd,
        target_url=target_url,
        target_memory_limit=target_memory_limit,
        users=users,
        spawn_rate=spawn_rate,
        duration=duration,
        pacing=pacing,
        seed=seed,
        time_scale=time_scale,
        abort_on_fail=abort_on_fail,
        grace=grace,
        report_dir=report_dir,
        run_id=run_id,
        provider_port=provider_port,
        progress=progress,
        argv=["harness", *sys.argv[1:]],
        topology=topology,
    )
    if topology.role == "worker":  # no provider, target or report: the master owns them
        pacing_s = request.pacing or 0.0
        raise typer.Exit(serve_worker(str(scenario), target or "", topology, seed=seed, pacing=pacing_s))
    plan = plan_load(request)  # bad input ends here, before Locust is imported
    import harness.runner  # noqa: F401  (respx → httpcore → trio needs select.epoll: import before gevent)
    from harness.load.engine import execute as execute_load  # imports Locust: gevent patches from here on

    raise typer.Exit(execute_load(plan))


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
