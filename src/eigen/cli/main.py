"""eigen-cli: submit quantum jobs and read their state and results.

The server is --endpoint HOST:PORT or EIGEN_ENDPOINT; with neither, the CLI runs the
embedded stack on the local data folder (EIGEN_DATA_DIR, default ~/.eigen), so a later
status or results finds the job.

A secured server takes a credential and TLS as global options, before the command:
--api-key (EIGEN_API_KEY) or --token (EIGEN_TOKEN), --ca-file (EIGEN_CA_FILE), and --cert
and --key for mutual TLS; an endpoint https://HOST:PORT turns TLS on too.

Exit codes: 0 success, 2 user error, 3 network error, 4 server error or a job that
ended other than DONE, 5 not authenticated or not allowed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

import eigen
from eigen.cli import render
from eigen.cli.session import ClientAuth, Session, exit_code_for, use_auth
from eigen.errors import EigenError, InvalidArgument
from eigen.models.state import JobState

if TYPE_CHECKING:
    from eigen.client import SubmitOptions
    from eigen.client.client import Client
    from eigen.models.session import Session as SessionInfo

# Plain help (click's formatter): docstrings read as written, flags show as flags
# (typer's rich help prints "--watch <bool>"), and it fits any terminal width.
app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, rich_markup_mode=None)
out = Console()
err = Console(stderr=True, soft_wrap=True)


def _version(shown: bool) -> None:
    if shown:
        print(f"eigen-cli {eigen.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit"),
    ] = False,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", envvar="EIGEN_API_KEY", metavar="KEY", show_envvar=True, help="API key of the server"
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", envvar="EIGEN_TOKEN", metavar="JWT", show_envvar=True, help="bearer token (JWT)"
        ),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            "--ca-file",
            envvar="EIGEN_CA_FILE",
            metavar="PEM",
            show_envvar=True,
            help="CA that signs the server's certificate (turns TLS on)",
        ),
    ] = None,
    cert: Annotated[
        Path | None,
        typer.Option(
            "--cert", envvar="EIGEN_CERT_FILE", metavar="PEM", help="client certificate (mutual TLS)"
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option("--key", envvar="EIGEN_KEY_FILE", metavar="PEM", help="key of --cert"),
    ] = None,
) -> None:
    """eigen-cli: submit quantum jobs and read their state and results."""
    use_auth(ClientAuth(api_key=api_key, token=token, ca_file=ca_file, cert_file=cert, key_file=key))


def _job_path(positional: Path | None, option: Path | None) -> Path:
    """The job file, given as ``submit job.yaml`` or ``submit --job job.yaml``."""
    if positional is not None and option is not None and positional != option:
        raise InvalidArgument.for_field("--job", "give the job file once (as JOB_FILE or --job)")
    path = positional or option
    if path is None:
        raise InvalidArgument.for_field("JOB_FILE", "missing: eigen-cli submit JOB_FILE (or --job FILE)")
    return path


def _job_id(session: Session, text: str) -> str:
    """A full job id from the id or a unique prefix of it (as tables show them)."""
    return session.client.resolve_job_id(text)


JobFileArg = Annotated[
    Path | None, typer.Argument(metavar="JOB_FILE", help="path to job.yaml", show_default=False)
]
JobIdArg = Annotated[str, typer.Argument(metavar="JOB_ID", help="the job id or a unique prefix of it")]

EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint", "-e", metavar="HOST:PORT", help="host:port of an Eigen server (or EIGEN_ENDPOINT)"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON output")]


@app.command()
def submit(
    job_file: JobFileArg = None,
    job: Annotated[
        Path | None, typer.Option("--job", "-j", metavar="FILE", help="path to job.yaml (or JOB_FILE)")
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="follow the job until it ends")] = False,
    as_json: JsonOpt = False,
    idempotency_key: Annotated[
        str, typer.Option(metavar="KEY", help="same key + same job = same job id")
    ] = "",
    target: Annotated[str | None, typer.Option(metavar="NAME", help="run on this device instead")] = None,
    shots: Annotated[int | None, typer.Option(metavar="N", help="shots per circuit instead")] = None,
    seed: Annotated[int | None, typer.Option(metavar="N", help="simulator seed instead")] = None,
    optimization_level: Annotated[
        int | None,
        typer.Option("--optimization-level", "-O", metavar="LEVEL", help="transpiler level 0-3 instead"),
    ] = None,
    priority: Annotated[int | None, typer.Option(metavar="N", help="priority 0-100 instead")] = None,
    depends_on: Annotated[
        list[str] | None,
        typer.Option(
            "--depends-on",
            metavar="ID",
            help="wait for this job (repeatable; instead of spec.dependencies), e.g. a pipeline's stage",
        ),
    ] = None,
    in_session: Annotated[
        str | None,
        typer.Option("--session", metavar="ID", help="run in this session (eigen-cli session open)"),
    ] = None,
    endpoint: EndpointOpt = None,
) -> None:
    """Submit the job described by JOB_FILE (a job.yaml).

    The flags override the file, and the file overrides the program's @hybrid_program
    settings."""
    overrides: SubmitOptions = {}
    if target is not None:
        overrides["target"] = target
    if shots is not None:
        overrides["shots"] = shots
    if seed is not None:
        overrides["seed"] = seed
    if optimization_level is not None:
        overrides["optimization_level"] = optimization_level
    if priority is not None:
        overrides["priority"] = priority
    if depends_on:
        overrides["dependencies"] = depends_on
    if in_session:
        overrides["session_id"] = in_session
    from eigen.cli import interrupt  # only a submission needs the Ctrl-C guard

    key = interrupt.submission_key(idempotency_key)  # known here, to find the job after Ctrl-C
    guard = interrupt.Guard(err, key, endpoint)  # Ctrl-C: exit 130 saying what became of the job
    with guard, Session(endpoint, err) as session:
        guard.session = session
        job = _job_path(job_file, job)
        accepted = session.client.submit(job, idempotency_key=key, **overrides)
        guard.job_id = accepted.id
        follow = watch or session.embedded  # an embedded job runs inside this process
        if not as_json:
            out.print(f"submitted job [bold]{accepted.id}[/bold] ({escape(accepted.request.name)})")
        final = (
            render.follow(session.client, accepted.id, err, quiet=as_json or not watch)
            if follow
            else accepted
        )
        if as_json:
            out.print_json(json.dumps(render.job_dict(final)))
        elif follow:
            out.print(render.state_line(final))
            if final.state is JobState.DONE and watch:
                render.print_results(out, session.client.results(final.id))
        raise typer.Exit(render.job_exit_code(final) if follow else 0)
    raise typer.Exit(interrupt.EXIT_CODE)  # only after a Ctrl-C, which the guard reported


@app.command()
def status(job_id: JobIdArg, as_json: JsonOpt = False, endpoint: EndpointOpt = None) -> None:
    """Show the state of a job."""
    with Session(endpoint, err) as session:
        job = session.client.get(_job_id(session, job_id))
        if as_json:
            out.print_json(json.dumps(render.job_dict(job)))
        else:
            render.print_job(out, job)


@app.command()
def watch(job_id: JobIdArg, endpoint: EndpointOpt = None) -> None:
    """Follow a job's events until it ends."""
    with Session(endpoint, err) as session:
        final = render.follow(session.client, _job_id(session, job_id), out, quiet=False)
        out.print(render.state_line(final))
        raise typer.Exit(render.job_exit_code(final))


@app.command()
def results(
    job_id: JobIdArg,
    as_json: JsonOpt = False,
    plot: Annotated[
        Path | None, typer.Option(metavar="FILE.png", help="write the convergence curve (PNG)")
    ] = None,
    wait: Annotated[
        float,
        typer.Option(min=0, max=3600, metavar="SECONDS", help="seconds to wait for the job to end first"),
    ] = 0.0,
    stream: Annotated[
        bool,
        typer.Option(
            "--stream", help="print the results as they arrive, one JSON chunk per line (large results)"
        ),
    ] = False,
    endpoint: EndpointOpt = None,
) -> None:
    """Print the results of a finished job.

    Counts with a bar per outcome, expectation values with their standard errors, and a
    hybrid job's summary; --stream reads a large result (memory, probabilities, a state
    vector) in chunks and prints each as one line of JSON as it arrives."""
    with Session(endpoint, err) as session:
        if stream:
            for chunk in session.client.stream_results(_job_id(session, job_id)):
                print(json.dumps(render.chunk_dict(chunk), separators=(",", ":")), flush=True)
            return
        result = session.client.results(_job_id(session, job_id), wait=wait)
        if plot is not None:
            from eigen.cli.plot import plot_convergence

            plot_convergence(result, plot)
            err.print(f"wrote {escape(str(plot))}")
        if as_json:
            out.print_json(json.dumps(render.result_dict(result)))
        else:
            render.print_results(out, result)


@app.command()
def cancel(job_id: JobIdArg, endpoint: EndpointOpt = None) -> None:
    """Cancel a job that has not ended."""
    with Session(endpoint, err) as session:
        job = session.client.cancel(_job_id(session, job_id))
        out.print(render.state_line(job))


@app.command()
def jobs(
    state: Annotated[
        list[str] | None, typer.Option(metavar="STATE", help="filter by state (repeatable)")
    ] = None,
    target: Annotated[str, typer.Option(metavar="NAME", help="filter by backend")] = "",
    label: Annotated[
        list[str] | None, typer.Option(metavar="KEY=VALUE", help="filter by label (repeatable)")
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="jobs per page")] = 20,
    page_token: Annotated[str, typer.Option(metavar="TOKEN", help="token printed by the previous page")] = "",
    as_json: JsonOpt = False,
    endpoint: EndpointOpt = None,
) -> None:
    """List jobs, newest first."""
    with Session(endpoint, err) as session:
        states = [render.parse_state(s) for s in state or []]
        labels = render.parse_labels(label or [])
        found, token = session.client.list_jobs(states, target, labels, limit, page_token)
        if as_json:
            out.print_json(
                json.dumps({"jobs": [render.job_dict(j) for j in found], "next_page_token": token})
            )
        else:
            render.print_jobs(out, found, token)


@app.command()
def backends(as_json: JsonOpt = False, endpoint: EndpointOpt = None) -> None:
    """List the backends (simulators and device emulators)."""
    with Session(endpoint, err) as session:
        listed = session.client.backends()
        if as_json:
            out.print_json(json.dumps([render.device_dict(d, q) for d, q in listed]))
        else:
            render.print_backends(out, listed)


sessions = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Sessions: jobs submitted with --session ID run back to back on the session's "
    "device, ahead of the queue, until it is closed, cancelled, idle or past its max time.",
)
app.add_typer(sessions, name="session")
SessionIdArg = Annotated[str, typer.Argument(metavar="SESSION_ID", help="the id session open printed")]


@sessions.command("open")
def session_open(
    target: Annotated[str, typer.Option(metavar="NAME", help="the device its jobs run on")],
    max_time: Annotated[
        float, typer.Option("--max-time", metavar="S", help="seconds it lasts at most (0: 8 hours)")
    ] = 0.0,
    idle: Annotated[
        float, typer.Option(metavar="S", help="closed after this long with no job (0: 300 s)")
    ] = 0.0,
    as_json: JsonOpt = False,
    endpoint: EndpointOpt = None,
) -> None:
    """Open a session on a device; prints its id."""
    with Session(endpoint, err) as session:
        opened = _kernel_client(session).session(target, max_time=max_time, idle=idle).info
        _print_session(opened, as_json)


@sessions.command("status")
def session_status(session_id: SessionIdArg, as_json: JsonOpt = False, endpoint: EndpointOpt = None) -> None:
    """Show a session's state and times."""
    with Session(endpoint, err) as session:
        _print_session(_kernel_client(session).get_session(session_id), as_json)


@sessions.command("close")
def session_close(session_id: SessionIdArg, as_json: JsonOpt = False, endpoint: EndpointOpt = None) -> None:
    """Take no more jobs; those in the session finish."""
    with Session(endpoint, err) as session:
        _print_session(_kernel_client(session).close_session(session_id), as_json)


@sessions.command("cancel")
def session_cancel(session_id: SessionIdArg, as_json: JsonOpt = False, endpoint: EndpointOpt = None) -> None:
    """Take no more jobs and cancel the session's jobs that have not ended."""
    with Session(endpoint, err) as session:
        _print_session(_kernel_client(session).cancel_session(session_id), as_json)


def _kernel_client(session: Session) -> Client:
    """The session's client of a kernel: the server's, or the embedded stack's (started now)."""
    from eigen.cli.local import FolderClient

    client = session.client
    return client.stack() if isinstance(client, FolderClient) else client


def _print_session(found: SessionInfo, as_json: bool) -> None:
    shown = render.session_dict(found)
    if as_json:
        out.print_json(json.dumps(shown))
    else:
        render.print_mapping(out, shown)


@app.command("compile")
def compile_job(
    out_file: Annotated[
        Path, typer.Option("--out", "-o", metavar="FILE", help="OpenQASM 3 file (.json: AQO)")
    ],
    job_file: JobFileArg = None,
    job: Annotated[
        Path | None, typer.Option("--job", "-j", metavar="FILE", help="path to job.yaml (or JOB_FILE)")
    ] = None,
) -> None:
    """Compile a job locally and write the compiled circuit.

    Compiles for the job's target in this process (no server) and writes OpenQASM 3, or
    AQO JSON when the output file ends in .json."""
    from eigen.cli.local_compile import compile_to_file

    try:
        report = compile_to_file(_job_path(job_file, job), out_file)
    except EigenError as exc:
        for line in render.error_lines(exc):
            err.print(line, highlight=False)
        raise typer.Exit(exit_code_for(exc)) from None
    out.print(f"wrote {escape(str(out_file))} (depth {report.get('after', {}).get('depth', '?')})")


@app.command()
def ui(
    port: Annotated[
        int, typer.Option(min=0, max=65535, metavar="PORT", help="loopback HTTP port (0: a free one)")
    ] = 0,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="open the dashboard in a web browser")
    ] = True,
) -> None:
    """Serve the web dashboard on 127.0.0.1 and open it.

    Runs the embedded stack on the local data folder with its HTTP port on loopback, prints
    the dashboard's URL (http://127.0.0.1:PORT/ui/) and serves until Ctrl-C."""
    from eigen.cli.ui import serve_dashboard

    serve_dashboard(port, open_browser, out, err)


def run() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
