"""How the CLI shows jobs, events, results and backends (rich tables, JSON dicts)."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from eigen.errors import EigenError, InvalidArgument, quote
from eigen.models.state import JobState

if TYPE_CHECKING:  # annotations only: printing a job needs neither gRPC nor the models' code
    from eigen.cli.local import FolderClient
    from eigen.client.client import Client
    from eigen.models.chunks import Chunk
    from eigen.models.job import Job
    from eigen.models.placement import Placement
    from eigen.models.result import Experiment, JobResult
    from eigen.models.session import Session
    from eigen.models.target import DeviceInfo

BAR_WIDTH = 40
MAX_ROWS = 64
PROBABILITY_SHOWN = 1e-12  # basis states less likely than this are left out of the table
MEMORY_SHOWN = 8  # shots of the memory shown by ``results`` (``--json`` shows every one)
SHORT_ID = 12
"""Tables show the first 12 characters of a job id (like ``docker ps``); ``--json`` and
``status`` show it whole, and every command that takes an id accepts a unique prefix."""
PROGRESS_EVERY = 10
"""Without a terminal, ``follow`` prints one line per state change and per this many
iterations of a hybrid loop (a log stays readable; a spinner would only add noise)."""
INTEGER_PROGRESS = ("iteration", "evaluations", "max_iters", "shots", "shots_per_basis")
"""Progress counters that are integers: a ``google.protobuf.Struct`` carries every number
as a double, so ``27`` arrives as ``27.0`` from a server that sends no ``progress_json``."""


STAGES = ("queue_s", "compile_s", "execute_s", "optimizer_s")
"""The order ``status`` lists a job's timings in (the order it went through them)."""


def short_id(job_id: str) -> str:
    return job_id[:SHORT_ID]


def iso_time(seconds: float | None) -> str:
    """Local time to the second, the way ``jobs`` and ``status`` show it (no fraction)."""
    if seconds is None:
        return ""
    return dt.datetime.fromtimestamp(seconds).isoformat(timespec="seconds")


def duration(seconds: float) -> str:
    """``0.0067`` -> ``6.7 ms``, ``0.367`` -> ``0.37 s``, ``75`` -> ``1 min 15 s``."""
    if seconds < 0.1:
        return f"{seconds * 1000:.2g} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def typed_progress(progress: dict[str, object]) -> dict[str, object]:
    """The progress with its counters as integers (see :data:`INTEGER_PROGRESS`)."""
    typed = dict(progress)
    for key in INTEGER_PROGRESS:
        value = typed.get(key)
        if isinstance(value, float) and value.is_integer():
            typed[key] = int(value)
    return typed


def parse_state(text: str) -> JobState:
    try:
        return JobState(text.upper())
    except ValueError:
        names = ", ".join(s.value for s in JobState)
        raise InvalidArgument.for_field("--state", f"unknown state {quote(text)} (one of {names})") from None


def parse_labels(items: list[str]) -> dict[str, str]:
    labels = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgument.for_field("--label", f"expected key=value, got {quote(item)}")
        labels[key] = value
    return labels


URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
HINTS = {
    "spec.shots": ("metadata", "did you mean spec.metadata.shots?"),
    "spec.seed": ("metadata", "did you mean spec.metadata.seed?"),
    "spec.program": ("path:", "program needs path: or source:"),
}
"""Per field: a hint, unless the description already says the word before it."""


def error_lines(error: EigenError, endpoint: str = "") -> list[str]:
    """How the CLI prints an error (rich markup, user text escaped): ``error CODE:
    message`` once, then only the field lines the message does not already say, then a
    hint where one is obvious (an endpoint written as a URL, a key in the wrong place)."""
    message = str(error)
    lines = [f"[red]error[/red] {error.code}: {escape(message)}"]
    hints = []
    for violation in error.violations:
        text = f"{violation.field}: {violation.description}"
        if text not in message:
            lines.append(f"  - {escape(text)}")
        said, hint = HINTS.get(violation.field, ("", ""))
        if hint and said not in violation.description and hint not in hints:
            hints.append(hint)
    if endpoint and URL.match(endpoint) and error.code == "EIGEN_UNAVAILABLE":
        hints.append("use host:port (or https://host:port for TLS), not a URL")
    lines += [f"  hint: {escape(hint)}" for hint in hints]
    return lines


def job_exit_code(job: Job) -> int:
    return 0 if job.state is JobState.DONE else 4


def state_line(job: Job) -> str:
    """One line of rich markup; the error summary (which may quote user input) escaped."""
    line = f"job {job.id}: {job.state.value}"
    if job.error_summary:
        line += f" ({job.error_code}: {escape(job.error_summary)})"
    return line


def progress_text(job_id: str, state: JobState, data: dict[str, object]) -> str:
    """``job 1a2b3c4d5e6f: RUNNING iteration 20/200 energy -1.234567``."""
    text = f"job {short_id(job_id)}: {state.value}"
    data = typed_progress(data)
    if "iteration" in data:
        text += f" iteration {data['iteration']}"
        if data.get("max_iters"):
            text += f"/{data['max_iters']}"
        energy = data.get("energy")
        if isinstance(energy, int | float):
            text += f" energy {float(energy):.6f}"
    return text


def follow(client: Client | FolderClient, job_id: str, console: Console, quiet: bool) -> Job:
    """Follow WatchJob until the job ends; returns the final job.

    On a terminal one transient line (spinner, state, iteration, bar, elapsed time); to a
    pipe or a file one plain line per state change and per :data:`PROGRESS_EVERY`
    iterations, so a log or CI output shows what happened without control characters."""
    if not console.is_terminal:
        if not quiet:
            _follow_plain(client, job_id, console)
        else:
            for _ in client.watch(job_id):
                pass
        return client.get(job_id)
    # only a terminal shows a spinner: the reads that print once never import it
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet,
    ) as progress:
        task = progress.add_task(f"job {short_id(job_id)}: waiting", total=None)
        for event in client.watch(job_id):
            data = typed_progress(event.data) if event.kind == "progress" else {}
            total, done = data.get("max_iters"), data.get("iteration")
            if isinstance(total, int) and isinstance(done, int):
                progress.update(task, total=float(total), completed=float(done))
            progress.update(task, description=progress_text(job_id, event.state, data))
    return client.get(job_id)


def _follow_plain(client: Client | FolderClient, job_id: str, console: Console) -> None:
    last_state: JobState | None = None
    for event in client.watch(job_id):
        if event.kind == "progress":
            iteration = typed_progress(event.data).get("iteration")
            if isinstance(iteration, int) and (iteration == 1 or iteration % PROGRESS_EVERY == 0):
                console.print(Text(progress_text(job_id, event.state, event.data)), highlight=False)
        elif event.state is not last_state and not event.terminal:
            console.print(Text(progress_text(job_id, event.state, {})), highlight=False)
        last_state = event.state


def job_dict(job: Job) -> dict[str, object]:
    """The job as ``--json`` prints it (and ``status`` shows it, empty values left out)."""
    return {
        "id": job.id,
        "name": job.request.name,
        "namespace": job.request.namespace,
        "state": job.state.value,
        "workload": job.request.workload.value if job.request.workload else None,
        "target": job.request.target,
        "priority": job.request.priority,
        "shots": job.request.shots_or_default,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "error_code": job.error_code,
        "error_summary": job.error_summary,
        "labels": job.request.labels,
        "annotations": job.request.annotations,
        "program_uri": job.request.program_uri,
        "extensions": job.request.extensions,
        "timings": job.timings,
        "progress": typed_progress(job.progress),
        "session_id": job.request.session_id,
        "queue": placement_dict(job.placement) if job.placement is not None else None,
    }


def session_dict(session: Session) -> dict[str, object]:
    """A session as ``session ... --json`` prints it (times as Unix seconds)."""
    return {
        "id": session.id,
        "state": session.state.value,
        "target": session.target,
        "tenant": session.tenant,
        "owner": session.owner,
        "created_at": session.created_at,
        "expires_at": session.expires_at,
        "idle_s": session.idle_s,
        "last_activity_at": session.last_activity_at,
        "ended_at": session.ended_at,
        "reason": session.reason,
    }


def print_mapping(console: Console, shown: dict[str, object]) -> None:
    """One row per key with a value; ``*_at`` times in ISO form, the suffix dropped."""
    table = Table(show_header=False, box=None, pad_edge=False)
    for key, value in shown.items():
        if value in (None, ""):
            continue
        name = key.removesuffix("_at")
        text = iso_time(value) if key.endswith("_at") and isinstance(value, float) else _json(value)
        table.add_row(f"[bold]{name}[/bold]", Text(text))
    console.print(table)


def placement_dict(placement: Placement) -> dict[str, object]:
    """Where a waiting job stands (``--json``'s ``queue``)."""
    return {
        "stage": placement.stage.value,
        "device": placement.device,
        "position": placement.position,
        "slots": placement.slots,
        "estimated_start": placement.estimated_start,
        "reason": placement.reason,
    }


def placement_text(placement: Placement, now: float) -> str:
    """``#3 on sim:aer, starts about 2026-12-07T12:03:10 (in 8 s): priority 50 (normal); ...``."""
    wait = max(0.0, placement.estimated_start - now)
    where = "to compile" if placement.stage.value == "compile" else f"on {placement.device}"
    return (
        f"#{placement.position} {where}, starts about {iso_time(placement.estimated_start)} "
        f"(in {duration(wait)}): {placement.reason}"
    )


def result_dict(result: JobResult) -> dict[str, object]:
    """``results --json``: the stored form of the result (amplitudes as ``[real, imag]``)."""
    from eigen.models.result import result_to_dict

    return result_to_dict(result)


def chunk_dict(chunk: Chunk) -> dict[str, object]:
    """One line of ``results --stream``: a chunk's place and its fragments of experiments
    (fragments of one experiment come in order: append their lists, merge their counts)."""
    return {
        "index": chunk.index,
        "total": chunk.total,
        "is_final": chunk.is_final,
        "experiment_indices": chunk.experiment_indices,
        **result_dict(chunk.result),
    }


def print_job(console: Console, job: Job) -> None:
    """``status``: one row per field that has a value; times in ISO form, timings and
    progress as readable text, the kept JobSpec sections one row each."""
    table = Table(show_header=False, box=None, pad_edge=False)
    rows = job_dict(job)
    for key in ("created_at", "started_at", "finished_at"):
        rows[key] = iso_time(getattr(job, key))
    rows["timings"] = ", ".join(
        f"{name.removesuffix('_s')} {duration(job.timings[name])}"
        for name in sorted(job.timings, key=lambda n: (STAGES.index(n) if n in STAGES else len(STAGES), n))
    )
    rows["labels"] = ", ".join(f"{k}={v}" for k, v in job.request.labels.items())
    rows["annotations"] = ", ".join(f"{k}={v}" for k, v in job.request.annotations.items())
    progress = typed_progress(job.progress)
    rows["progress"] = progress_summary(progress)
    if job.placement is not None:
        rows["queue"] = placement_text(job.placement, time.time())
    for key, value in rows.items():
        name = key.removesuffix("_at") if key.endswith("_at") else key
        if key == "extensions" and isinstance(value, dict):
            for section, content in value.items():  # one row per kept JobSpec section
                table.add_row(f"[bold]{key}[/bold]", Text(f"{section}: {_json(content)}"))
        elif value not in (None, {}, ""):
            table.add_row(f"[bold]{name}[/bold]", Text(_json(value)))  # user text, not markup
    parameters = progress.get("parameters")
    if isinstance(parameters, dict) and parameters:
        table.add_row("[bold]parameters[/bold]", Text(bindings_text(parameters)))
    console.print(table)


def progress_summary(progress: dict[str, object]) -> str:
    """``iteration 62/200, evaluations 82, energy -1.8572750262 ± 0.001``."""
    parts = []
    if "iteration" in progress:
        total = f"/{progress['max_iters']}" if progress.get("max_iters") else ""
        parts.append(f"iteration {progress['iteration']}{total}")
    if "evaluations" in progress:
        parts.append(f"evaluations {progress['evaluations']}")
    if isinstance(progress.get("energy"), int | float):
        energy = f"energy {_number(progress['energy'])}"
        if progress.get("std_error"):
            energy += f" ± {_number(progress['std_error'])}"
        parts.append(energy)
    known = {"iteration", "max_iters", "evaluations", "energy", "std_error", "parameters"}
    parts += [f"{k} {_json(v)}" for k, v in progress.items() if k not in known]
    return ", ".join(parts)


def bindings_text(bindings: dict[str, object], order: Iterable[str] = ()) -> str:
    """``theta=0.5, phi=1``: in ``order`` (the declaration order, where known), the rest
    in natural order (``t2`` before ``t10``), so the same job always reads the same."""
    ordered = [name for name in order if name in bindings]
    ordered += sorted((n for n in bindings if n not in ordered), key=_natural)
    return ", ".join(f"{name}={_short(bindings[name])}" for name in ordered)


def _short(value: object) -> str:
    """A number to 6 significant digits (a title, not the data: ``--json`` has it all)."""
    return f"{value:.6g}" if isinstance(value, float) else _number(value)


def _natural(name: str) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _json(value: object) -> str:
    """A value as one line: text as itself, everything else as JSON (ints stay ints)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def print_results(console: Console, result: JobResult) -> None:
    """``results``: the backend (and seed, calibration when there are), the hybrid summary
    or the returned values, then per experiment its counts (none in exact mode) and its
    expectation values, labelled, with standard errors when they come from shots."""
    header = f"backend {result.backend}"
    if result.seed is not None:
        header += f"  seed {result.seed}"
    if result.engine:
        header += f"  engine {result.engine}"
    if result.calibration_id:
        header += f"  calibration {result.calibration_id}"
    console.print(Text(header), highlight=False)
    if "energy" in result.summary:
        print_hybrid_summary(console, result.summary)
    elif "returns" in result.summary:
        print_returns(console, result.summary["returns"])
    if "returned" in result.summary:  # a return value that is not a dict
        print_returns(console, result.summary["returned"])
    order = _declaration_order(result)
    labels = _observable_labels(result.summary)
    exact = result.summary.get("estimator") == "exact"
    for index, experiment in enumerate(result.experiments):
        title = f"experiment {index}"
        if experiment.bindings:
            title += f" ({bindings_text(dict(experiment.bindings), order)})"
        console.print(Text(title, style="bold"), highlight=False)
        if experiment.counts:
            console.print(_counts_table(experiment.counts))
        _print_outputs(console, experiment)
        for number, value in enumerate(experiment.expectation_values):
            label = labels[number] if number < len(labels) else f"observable {number}"
            line = f"  {label}: {_number(value)}"
            errors = experiment.standard_errors
            if experiment.shots and not exact and number < len(errors):
                line += f" ± {errors[number]:.2g}"
            console.print(Text(line), highlight=False)


def _print_outputs(console: Console, experiment: Experiment) -> None:
    """The outputs besides counts, in brief (``--json`` or ``--stream`` give them whole): the
    first shots of the memory, the likeliest basis states, the size of the state vector."""
    if experiment.memory:
        shown = " ".join(experiment.memory[:MEMORY_SHOWN])
        more = len(experiment.memory) - MEMORY_SHOWN
        console.print(
            Text(f"  memory ({len(experiment.memory):,} shots): {shown}" + (" ..." if more > 0 else "")),
            highlight=False,
        )
    if experiment.probabilities:
        width = max(1, (len(experiment.probabilities) - 1).bit_length())
        likely = [(i, p) for i, p in enumerate(experiment.probabilities) if p > PROBABILITY_SHOWN]
        ranked = sorted(likely, key=lambda kv: (-kv[1], kv[0]))[:MAX_ROWS]
        console.print(
            Text(f"  probabilities ({len(experiment.probabilities):,} basis states; the likeliest):"),
            highlight=False,
        )
        table = Table()
        table.add_column("state", style="bold")
        table.add_column("probability", justify="right")
        for state, probability in ranked:
            table.add_row(format(state, f"0{width}b"), f"{probability:.6f}")
        console.print(table)
    if experiment.statevector:
        console.print(
            Text(f"  statevector: {len(experiment.statevector):,} amplitudes (--json to read them)"),
            highlight=False,
        )


def _counts_table(counts: dict[str, int]) -> Table:
    table = Table()
    table.add_column("outcome", style="bold")
    table.add_column("count", justify="right")
    table.add_column("probability", justify="right")
    table.add_column("")
    total = sum(counts.values()) or 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    for outcome, count in ranked[:MAX_ROWS]:
        share = count / total
        table.add_row(outcome, str(count), f"{share:.4f}", "█" * max(1, round(share * BAR_WIDTH)))
    if len(ranked) > MAX_ROWS:
        table.add_row("...", f"{len(ranked) - MAX_ROWS} more outcomes", "", "")
    return table


def _declaration_order(result: JobResult) -> list[str]:
    """The parameter names in the order the program declares them, where the result says:
    a hybrid job's optimal parameters keep it (the summary travels as JSON), and a sweep's
    compile report lists it (``parameters``, see :func:`eigen.compiler.report.parameter_order`;
    a result stored before the list existed has none: the titles fall back to natural order)."""
    for parameters in (result.summary.get("optimal_parameters"), result.compile_report.get("parameters")):
        if isinstance(parameters, dict | list) and parameters:
            return [str(name) for name in parameters]
    return []


def _observable_labels(summary: dict[str, object]) -> list[str]:
    """A hybrid job's ``ExpectationValue`` names; other jobs' observables go by index."""
    named = summary.get("expectation_values")
    return [str(name) for name in named] if isinstance(named, dict) else []


def print_returns(console: Console, returns: object) -> None:
    """What a program returned (no hybrid loop): each key of a dict, or the one value."""
    table = Table(title="returns", show_header=False)
    if isinstance(returns, dict):
        for name, value in returns.items():
            table.add_row(Text(str(name)), Text(_json(value)))
    else:
        table.add_row("value", Text(_json(returns)))
    console.print(table)


def print_jobs(console: Console, jobs: list[Job], token: str) -> None:
    """``jobs``: short ids that are never cut; a job outside the ``default`` namespace is
    named ``namespace/name`` (as ``kubectl`` does), so the table stays within 80 columns."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("id", no_wrap=True, min_width=SHORT_ID)
    table.add_column("name", overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("target", no_wrap=True)
    table.add_column("pri", justify="right", no_wrap=True)
    table.add_column("created", no_wrap=True)
    for job in jobs:
        request = job.request
        name = request.name if request.namespace == "default" else f"{request.namespace}/{request.name}"
        table.add_row(
            short_id(job.id),
            Text(name),
            job.state.value,
            Text(request.target),
            str(request.priority),
            iso_time(job.created_at),
        )
    console.print(table)
    if token:
        console.print(f"next page: --page-token {token}")


def device_dict(device: DeviceInfo, queue_depth: int) -> dict[str, object]:
    return {
        "name": device.name,
        "aliases": list(device.aliases),
        "num_qubits": device.num_qubits,
        "basis_gates": list(device.basis_gates),
        "coupling_map": [list(e) for e in device.coupling_map] if device.coupling_map else None,
        "max_shots": device.max_shots,
        "status": device.status.value,
        "noisy": device.noisy,
        "clifford_only": device.clifford_only,
        "calibration_id": device.calibration_id,
        "queue_depth": queue_depth,
        "description": device.description,
    }


def print_backends(console: Console, listed: list[tuple[DeviceInfo, int]]) -> None:
    """``backends``: what fits 80 columns (the descriptions are in ``--json``)."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("name", no_wrap=True)
    table.add_column("aliases", overflow="fold")
    for column in ("qubits", "queue"):
        table.add_column(column, justify="right")
    table.add_column("status")
    table.add_column("kind")
    for device, depth in listed:
        kind = "emulator (noisy)" if device.noisy else ("stabilizer" if device.clifford_only else "simulator")
        table.add_row(
            device.name,
            ", ".join(device.aliases) or "-",
            str(device.num_qubits),
            str(depth),
            device.status.value,
            kind,
        )
    console.print(table)


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def print_hybrid_summary(console: Console, summary: dict[str, object]) -> None:
    """The answer of a hybrid job: energy, how it was reached, the optimal parameters."""
    table = Table(title="hybrid result", show_header=False)
    energy = f"{summary['energy']:.10f}"
    if summary.get("std_error"):
        energy += f" ± {summary['std_error']:.6f}"
    table.add_row("[bold]energy[/bold]", f"[bold]{energy}[/bold]")
    for key in (
        "start_energy",
        "iterations",
        "evaluations",
        "method",
        "estimator",
        "shots_per_basis",
        "noise_model",
        "gradient",
        "converged",
        "resumed",
    ):
        if summary.get(key) is not None:
            table.add_row(key, _number(summary[key]))
    parameters = summary.get("optimal_parameters") or {}
    if isinstance(parameters, dict):
        for name, value in parameters.items():  # declaration order (the summary is JSON)
            table.add_row(Text(f"parameter {name}"), _number(value))
    returns = summary.get("returns")
    if isinstance(returns, dict):
        for name, value in returns.items():
            table.add_row(
                Text(f"returns.{name}"),
                _number(value)
                if not isinstance(value, list)
                else "[" + ", ".join(_number(v) for v in value) + "]",
            )
    elif returns is not None:  # a program may return one value instead of a dict
        table.add_row("returns", Text(_json(returns)))
    console.print(table)
