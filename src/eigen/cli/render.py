"""How the CLI shows jobs, events, results and backends (rich tables, JSON dicts)."""

from __future__ import annotations

import datetime as dt
import json

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from eigen.client.client import Client
from eigen.errors import InvalidArgument, quote
from eigen.models.job import Job
from eigen.models.result import JobResult
from eigen.models.state import JobState
from eigen.models.target import DeviceInfo

BAR_WIDTH = 40
MAX_ROWS = 64


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


def job_exit_code(job: Job) -> int:
    return 0 if job.state is JobState.DONE else 4


def state_line(job: Job) -> str:
    """One line of rich markup; the error summary (which may quote user input) escaped."""
    line = f"job {job.id}: {job.state.value}"
    if job.error_summary:
        line += f" ({job.error_code}: {escape(job.error_summary)})"
    return line


def follow(client: Client, job_id: str, console: Console, quiet: bool) -> Job:
    """Follow WatchJob with a progress display until the job ends; returns the final job."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet,
    ) as progress:
        task = progress.add_task(f"job {job_id[:12]}: waiting", total=None)
        for event in client.watch(job_id):
            text = f"job {job_id[:12]}: {event.state.value}"
            data = event.data
            if event.kind == "progress" and "iteration" in data:
                text += f" iteration {data['iteration']}"
                if "energy" in data:
                    text += f" energy {float(data['energy']):.6f}"
                if data.get("max_iters"):
                    progress.update(task, total=float(data["max_iters"]), completed=float(data["iteration"]))
            progress.update(task, description=text)
    return client.get(job_id)


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
        "progress": job.progress,
    }


def result_dict(result: JobResult) -> dict[str, object]:
    return {
        "job_id": result.job_id,
        "backend": result.backend,
        "seed": result.seed,
        "calibration_id": result.calibration_id,
        "experiments": [
            {
                "counts": e.counts,
                "shots": e.shots,
                "bindings": e.bindings,
                "expectation_values": e.expectation_values,
                "standard_errors": e.standard_errors,
            }
            for e in result.experiments
        ],
        "timings": result.timings,
        "summary": result.summary,
        "compile_report": result.compile_report,
    }


def print_job(console: Console, job: Job) -> None:
    table = Table(show_header=False, box=None)
    for key, value in job_dict(job).items():
        if key == "extensions" and isinstance(value, dict):
            for section, content in value.items():  # one row per kept JobSpec section
                table.add_row(f"[bold]{key}[/bold]", Text(f"{section}: {_json(content)}"))
        elif value not in (None, {}, ""):
            table.add_row(f"[bold]{key}[/bold]", Text(_json(value)))  # user text, not markup
    console.print(table)


def _json(value: object) -> str:
    """A value as one line: text as itself, everything else as JSON (ints stay ints)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def print_results(console: Console, result: JobResult) -> None:
    console.print(f"backend {result.backend}  seed {result.seed}  calibration {result.calibration_id or '-'}")
    if "energy" in result.summary:
        print_hybrid_summary(console, result.summary)
    elif "returns" in result.summary:
        print_returns(console, result.summary["returns"])
    if "returned" in result.summary:  # a return value that is not a dict
        print_returns(console, result.summary["returned"])
    for index, experiment in enumerate(result.experiments):
        title = f"experiment {index}" + (f" {experiment.bindings}" if experiment.bindings else "")
        table = Table(title=title)
        table.add_column("outcome", style="bold")
        table.add_column("count", justify="right")
        table.add_column("probability", justify="right")
        table.add_column("")
        total = sum(experiment.counts.values()) or 1
        ranked = sorted(experiment.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        for outcome, count in ranked[:MAX_ROWS]:
            share = count / total
            table.add_row(outcome, str(count), f"{share:.4f}", "█" * max(1, round(share * BAR_WIDTH)))
        if len(ranked) > MAX_ROWS:
            table.add_row("...", f"{len(ranked) - MAX_ROWS} more outcomes", "", "")
        console.print(table)
        if experiment.expectation_values:
            console.print(f"expectation values: {experiment.expectation_values}")


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
    table = Table()
    for column in ("id", "name", "namespace", "state", "target", "priority", "created"):
        table.add_column(column)
    for job in jobs:
        created = dt.datetime.fromtimestamp(job.created_at).isoformat(timespec="seconds")
        table.add_row(
            job.id,
            job.request.name,
            Text(job.request.namespace),
            job.state.value,
            Text(job.request.target),
            str(job.request.priority),
            created,
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
    table = Table()
    for column in ("name", "qubits", "status", "kind", "queue", "description"):
        table.add_column(column)
    for device, depth in listed:
        kind = "emulator (noisy)" if device.noisy else ("stabilizer" if device.clifford_only else "simulator")
        table.add_row(
            device.name,
            str(device.num_qubits),
            device.status.value,
            kind,
            str(depth),
            device.description,
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
        for name, value in sorted(parameters.items()):
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
