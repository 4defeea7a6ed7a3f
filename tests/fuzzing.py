"""Inputs for the fuzzers: programs, job requests and job.yaml files, from seeds and mutations.

Every generator takes a ``random.Random`` so a run is reproducible from its seed. The
seeds are the examples and the inputs that once took the service down (issue 14); the
mutations are what careless users and attackers send: edge numbers in every numeric
position, repeated operands, missing version lines, deep nesting, huge registers in every
integer spelling, unknown options, long strings and YAML aliases. Used by the small
fuzz tests (``tests/integration/test_fuzz.py``) and ``benchmarks/fuzz.py``.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import string
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

BELL3 = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'
    "h q[0];\ncx q[0], q[1];\nc = measure q;\n"
)
PARAM3 = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\ninput float[64] theta;\n'
    "gate pair a, b { h a; cx a, b; }\nqubit[2] q;\nbit[2] c;\npair q[0], q[1];\n"
    "rz(theta) q[1];\nc = measure q;\n"
)
POISON = [  # the inputs of issue 14 that stopped the service, as found
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\ncx q[0], q[0];\n',
    "OPENQASM 3.0;\nconst uint n = 2;\nqubit[n] q;\n",
    'include "qelib1.inc";\nqreg q[1];\n',
    "OPENQASM 3.0;\nqubit[4_000_000] q;\n",
    "OPENQASM 3.0;\nqubit[0xF4240] q;\n",
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q//\n[4000000];\n',
    'OPENQASM 3.0;\ninclude "' + "a" * 5000 + '";\nqubit[1] q;\n',
]

EDGE_INTS = [0, 1, -1, 2, 31, 64, 65_536, 4_000_000, 2**31, 2**63, -(2**63), 10**30]
INT_SPELLINGS: list[Callable[[int], str]] = [
    str,
    hex,
    oct,
    bin,
    lambda n: f"{n:_}",
    lambda n: f"{n}.0",
    lambda n: f"{n}e0",
]
EDGE_FLOATS = [0.0, -0.0, 1e-300, 1e300, float("inf"), float("-inf"), float("nan")]
QASM_TOKENS = [
    "const", "uint", "int[8]", "float[64]", "angle", "bit", "qubit", "gate", "def", "for", "in",
    "while", "if", "else", "measure", "reset", "barrier", "delay[10ns]", "ctrl @", "inv @",
    "pow(2) @", "include \"stdgates.inc\";", "OPENQASM 3.0;", "OPENQASM 2.0;", "{", "}", "[", "]",
    "(", ")", ";", ",", "->", "=", "==", "//", "/*", "*/", "pi", "π", "τ", "\u00e9", "\u202e", "$0",
    "q[0]", "q[1]", "q[99]", "q", "c", "theta", "input", "output", "box", "let", "extern", "#pragma",
]  # fmt: skip
GATES = ["h", "x", "y", "z", "s", "t", "sx", "cx", "cz", "swap", "ccx", "rz(0.5)", "u(1,2,3)", "cp(pi)"]


def _edge_number(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return rng.choice(INT_SPELLINGS)(rng.choice(EDGE_INTS))
    return repr(rng.choice(EDGE_FLOATS))


def nested_gates(rng: random.Random, depth: int | None = None) -> str:
    """Gate definitions each calling the previous ``k`` times: k**depth gates expanded."""
    depth = depth if depth is not None else rng.randint(2, 24)
    calls = rng.randint(2, 4)
    lines = ['OPENQASM 3.0;\ninclude "stdgates.inc";\n', "gate g0 a { h a; }\n"]
    for level in range(1, depth + 1):
        body = " ".join(f"g{level - 1} a;" for _ in range(calls))
        lines.append(f"gate g{level} a {{ {body} }}\n")
    lines.append(f"qubit[1] q;\ng{depth} q[0];\n")
    return "".join(lines)


def random_circuit(rng: random.Random) -> str:
    """A well-formed-looking OpenQASM 2 or 3 circuit with random (sometimes bad) operands."""
    width = rng.choice([1, 2, 3, 5, 8, 12, 30, 40])
    version3 = rng.random() < 0.6
    header = (
        'OPENQASM 3.0;\ninclude "stdgates.inc";\n' if version3 else 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
    )
    lines = [
        header,
        f"qubit[{width}] q;\nbit[{width}] c;\n" if version3 else f"qreg q[{width}];\ncreg c[{width}];\n",
    ]
    for _ in range(rng.randint(0, 30)):
        gate = rng.choice(GATES)
        arity = 3 if gate == "ccx" else 2 if gate in ("cx", "cz", "swap", "cp(pi)") else 1
        operands = [rng.randrange(width + (1 if rng.random() < 0.05 else 0)) for _ in range(arity)]
        lines.append(f"{gate} " + ", ".join(f"q[{i}]" for i in operands) + ";\n")
    lines.append("c = measure q;\n" if version3 else "measure q -> c;\n")
    return "".join(lines)


def mutate_text(text: str, rng: random.Random) -> str:
    """One to four textual mutations: tokens, numbers, lines, bytes."""
    for _ in range(rng.randint(1, 4)):
        lines = text.split("\n")
        kind = rng.randrange(8)
        at = rng.randrange(len(lines))
        if kind == 0:  # insert a token
            lines[at] = lines[at] + " " + rng.choice(QASM_TOKENS)
        elif kind == 1:  # replace a number with an edge value
            digits = [i for i, ch in enumerate(text) if ch.isdigit()]
            if digits:
                i = rng.choice(digits)
                text = text[:i] + _edge_number(rng) + text[i + 1 :]
                continue
        elif kind == 2 and len(lines) > 1:  # drop a line (e.g. the version line)
            del lines[at]
        elif kind == 3:  # duplicate a line
            lines.insert(at, lines[at])
        elif kind == 4:  # swap two lines
            other = rng.randrange(len(lines))
            lines[at], lines[other] = lines[other], lines[at]
        elif kind == 5 and text:  # truncate
            return text[: rng.randrange(len(text))]
        elif kind == 6:  # random printable or odd characters
            noise = "".join(
                rng.choice(string.printable + "π\u00e9\u2028\u0000\ufffd") for _ in range(rng.randint(1, 12))
            )
            lines[at] = lines[at][: rng.randint(0, len(lines[at]))] + noise
        else:  # repeat a line many times
            lines[at:at] = [lines[at]] * rng.randint(2, 200)
        text = "\n".join(lines)
    return text


def _eigen_lang_sources() -> list[str]:
    return sorted(path.read_text() for path in EXAMPLES.glob("*/program.eigen.py"))


def eigen_lang_program(rng: random.Random) -> str:
    """An example Eigen-Lang program, mutated: optimiser options, aliases, text."""
    source = rng.choice(_eigen_lang_sources())
    roll = rng.random()
    if roll < 0.3 and "minimize(" in source:
        option = rng.choice(
            [
                "learning_rate='os.system'", "resamplings=100000000", "max_iters=-1", "max_iters=10**12",
                "maxiter='x'", "tol=float('nan')", "perturbation=1e308", "unknown_option=1", "callback=print",
                "method='NOPE'", "method='SPSA', learning_rate=0.1, perturbation=0.1", "max_iters=True",
            ]
        )  # fmt: skip
        return source.replace("max_iters=200)", f"max_iters=200, {option})")
    if roll < 0.45:
        depth = rng.randint(5, 40)
        aliases = "".join(f"    a{i} = [a{i - 1}, a{i - 1}]\n" for i in range(1, depth))
        return source.replace("    t0 = Param", f"    a0 = [1]\n{aliases}    t0 = Param", 1)
    return mutate_text(source, rng)


def program(rng: random.Random) -> tuple[str, str]:
    """(source, language) for a SubmitJob: mostly OpenQASM, some Eigen-Lang."""
    roll = rng.random()
    if roll < 0.05:
        return rng.choice(POISON), "qasm3"
    if roll < 0.12:
        return nested_gates(rng), "qasm3"
    if roll < 0.35:
        return eigen_lang_program(rng), "eigen-lang"
    if roll < 0.6:
        return random_circuit(rng), rng.choice(["qasm2", "qasm3", ""])
    seed = rng.choice([BELL3, PARAM3, *POISON, *(p.read_text() for p in EXAMPLES.glob("*/*.qasm"))])
    return mutate_text(seed, rng), rng.choice(["qasm3", "qasm2", ""])


def job_fields(rng: random.Random) -> dict[str, Any]:
    """JobRequest fields beside the program, sometimes at their edges."""
    fields: dict[str, Any] = {"name": "fuzz", "target": "sim:statevector", "shots": 100, "seed": 7}
    if rng.random() < 0.5:
        key = rng.choice(["shots", "seed", "priority", "optimization_level", "timeout_seconds"])
        wide = key in ("shots", "seed")  # int64 on the wire; the others int32 (or a double)
        fields[key] = rng.choice([0, -1, 1, 3, 4, 101, 2**31 - 1, *((2**31, 2**62) if wide else ())])
    if rng.random() < 0.2:
        fields["target"] = rng.choice(["", "sim:stabilizer", "emu:manila", "nope", "x" * 300, "sim:\u0000"])
    if rng.random() < 0.15:
        fields["name"] = rng.choice(["", "n" * 300, "\u202e" * 40, "a/b", "é"])
    if rng.random() < 0.15:
        fields["labels"] = {rng.choice(["k", "k" * 300, ""]): rng.choice(["v", "v" * 3000, ""])}
    if rng.random() < 0.1:
        fields["entrypoint"] = rng.choice(["", "nope", "main" * 100, "__import__"])
    return fields


# -- job.yaml ------------------------------------------------------------------------------
def _example_documents() -> list[tuple[dict[str, Any], Path]]:
    found = []
    for path in sorted(EXAMPLES.glob("*/job.yaml")):
        document = yaml.safe_load(path.read_text())
        if isinstance(document, dict):
            found.append((document, path.parent))
    return found


YAML_VALUES: list[Any] = [
    None, True, 0, -1, 2**64, 10**400, 1.5, float("inf"), float("nan"), "", "x" * 5000, [], {}, [[[[[]]]]],
    {"a": {"b": {"c": None}}}, "../../etc/passwd", "/etc/passwd", "~", "sim:statevector", "\u0000",
]  # fmt: skip
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


def _mutate_document(value: Any, rng: random.Random, depth: int = 0) -> Any:
    if isinstance(value, dict) and value:
        value = dict(value)
        key = rng.choice(list(value))
        roll = rng.random()
        if roll < 0.15:
            del value[key]
        elif roll < 0.3:
            value[rng.choice(["unknown", "x" * 200, "scheduling", "compiler_options", key + "_"])] = (
                rng.choice(YAML_VALUES)
            )
        elif roll < 0.6 or depth > 4:
            value[key] = rng.choice(YAML_VALUES)
        else:
            value[key] = _mutate_document(value[key], rng, depth + 1)
        return value
    if isinstance(value, list) and value:
        return [*value, rng.choice(YAML_VALUES)]
    return rng.choice(YAML_VALUES)


def job_yaml(rng: random.Random) -> tuple[str, Path]:
    """(job.yaml text, the folder it is read in): an example, mutated as a document or as text."""
    document, folder = rng.choice(_example_documents())
    roll = rng.random()
    if roll < 0.05:
        where = rng.choice(["compiler: {level: *i}", "metadata: {x: *i}", "compiler_options: *i"])
        spec = f"{{target: sim:statevector, program: {{source: 'OPENQASM 3.0;'}}, {where}}}"
        return f"{BOMB}apiVersion: eigen.os/v1\nkind: QuantumJob\nspec: {spec}\n", folder
    for _ in range(rng.randint(1, 3)):
        document = _mutate_document(document, rng)
    try:
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, ValueError, OverflowError):
        text = str(document)
    if roll < 0.25:
        text = mutate_text(text, rng)
    return text, folder


# -- running them ----------------------------------------------------------------------------
LANGUAGES = {"qasm2": 1, "qasm3": 2, "eigen-lang": 3, "": 0}
HANG_S = 10.0  # an answer slower than this is a hang
BAD_CODES = frozenset({"INTERNAL", "UNKNOWN", "DATA_LOSS"})


@dataclass
class Tally:
    """What a fuzzing run saw: answers by status code, and every kind of failure with a
    few examples (``failures`` must stay empty)."""

    inputs: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    failures: dict[str, list[str]] = field(default_factory=dict)
    slowest_s: float = 0.0
    accepted: list[str] = field(default_factory=list)

    def fail(self, kind: str, example: str) -> None:
        examples = self.failures.setdefault(kind, [])
        if len(examples) < 5:
            examples.append(example[:300])
        else:
            examples.append("")  # counted, not kept
        self.failures[kind] = examples

    def failure_counts(self) -> dict[str, int]:
        return {kind: len(examples) for kind, examples in self.failures.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "codes": dict(self.codes),
            "failures": self.failure_counts(),
            "failure_examples": {
                kind: [e for e in examples if e] for kind, examples in self.failures.items()
            },
            "slowest_s": round(self.slowest_s, 3),
        }


def job_request(rng: random.Random) -> Any:
    """A fuzzed ``eigen.api.v1.JobRequest``."""
    from eigen.proto.api.v1 import common_pb2 as pb

    source, language = program(rng)
    fields = job_fields(rng)
    entrypoint = fields.pop("entrypoint", "")
    labels = fields.pop("labels", {})
    return pb.JobRequest(
        program=pb.Program(source=source, language=LANGUAGES[language], entrypoint=entrypoint),  # type: ignore[arg-type]
        labels=labels,
        **fields,
    )


def check_refusal(error: Any, tally: Tally, example: str) -> None:
    """A refused call: a bad code, or INVALID_ARGUMENT naming no field, is a failure."""
    from grpc_status import rpc_status

    code = error.code().name
    tally.codes[code] += 1
    if code in BAD_CODES:
        tally.fail(f"grpc {code}", f"{error.details()} <- {example}")
    elif code == "DEADLINE_EXCEEDED":
        tally.fail("hang", example)
    elif code == "UNAVAILABLE":
        tally.fail("unavailable (server down?)", f"{error.details()} <- {example}")
    elif code == "INVALID_ARGUMENT":
        status = rpc_status.from_call(error)
        from google.rpc import error_details_pb2

        named = False
        for detail in status.details if status is not None else ():
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                named = any(v.field for v in bad.field_violations)
        if not named:
            tally.fail("INVALID_ARGUMENT naming no field", f"{error.details()} <- {example}")
        if len(error.details() or "") > 2000:
            tally.fail("unbounded message", example)


def fuzz_submissions(
    stub: Any,
    rng: random.Random,
    count: int,
    tally: Tally | None = None,
    sent: Callable[[str], None] | None = None,
) -> Tally:
    """``count`` fuzzed SubmitJob calls (one in ten a SubmitBatch of three, the middle one
    fuzzed), each with a deadline of :data:`HANG_S`; ``sent`` is told each input (its
    method and program, truncated) just before it is sent."""
    import grpc

    from eigen.proto.api.v1 import common_pb2 as pb
    from eigen.proto.api.v1 import jobs_pb2

    tally = tally or Tally()
    good = pb.JobRequest(name="good", target="sim:statevector", shots=10, program=pb.Program(source=BELL3))
    for _ in range(count):
        request = job_request(rng)
        example = repr(request.program.source[:200])
        batch = rng.random() < 0.1
        if sent is not None:
            sent(f"{'SubmitBatch' if batch else 'SubmitJob'} {example}")
        started = time.monotonic()
        tally.inputs += 1
        try:
            if batch:
                answer = stub.SubmitBatch(
                    jobs_pb2.SubmitBatchRequest(jobs=[good, request, good]), timeout=HANG_S
                )
                tally.accepted.extend(answer.job_ids)
            else:
                job = stub.SubmitJob(jobs_pb2.SubmitJobRequest(job=request), timeout=HANG_S).job
                tally.accepted.append(job.id)
            tally.codes["OK"] += 1
        except grpc.RpcError as error:
            check_refusal(error, tally, example)
        tally.slowest_s = max(tally.slowest_s, time.monotonic() - started)
    return tally


def settle(stub: Any, job_ids: list[str], tally: Tally, timeout_s: float = 300.0) -> Counter[str]:
    """Wait for accepted jobs to end; count them by final state. A job that ends in
    EIGEN_INTERNAL, or does not end in time, is a failure."""
    import grpc

    from eigen.proto.api.v1 import common_pb2 as pb
    from eigen.proto.api.v1 import jobs_pb2

    states: Counter[str] = Counter()
    deadline = time.monotonic() + timeout_s
    for job_id in job_ids:
        left = max(1.0, deadline - time.monotonic())
        # FAILED_PRECONDITION for a job that ended other than DONE: its state is read below
        with contextlib.suppress(grpc.RpcError):
            wait = jobs_pb2.GetJobResultsRequest(job_id=job_id, wait_seconds=min(left, 3600))
            stub.GetJobResults(wait, timeout=left + 5)
        job = stub.GetJob(jobs_pb2.GetJobRequest(job_id=job_id), timeout=HANG_S)
        state = pb.JobState.Name(job.state)
        states[state] += 1
        if job.error_code == "EIGEN_INTERNAL":
            tally.fail("job ended EIGEN_INTERNAL", f"{job_id}: {job.error_summary}")
        if state in ("JOB_STATE_PENDING", "JOB_STATE_COMPILING", "JOB_STATE_QUEUED", "JOB_STATE_RUNNING"):
            tally.fail("job did not end", job_id)
    return states


def fuzz_job_files(rng: random.Random, count: int, folder: Path, tally: Tally | None = None) -> Tally:
    """``count`` fuzzed job.yaml files read by ``load_job_file`` (as ``eigen-cli submit
    --job`` reads them): each is a JobRequest or an InvalidArgument naming a field,
    within :data:`HANG_S`; anything else is a failure."""
    from eigen.errors import EigenError, InvalidArgument
    from eigen.jobfile import load_job_file

    tally = tally or Tally()
    for index in range(count):
        text, example_folder = job_yaml(rng)
        work = folder / f"case-{index % 64}"
        work.mkdir(exist_ok=True)
        for program_file in example_folder.iterdir():
            if program_file.name != "job.yaml" and not (work / program_file.name).exists():
                (work / program_file.name).write_text(program_file.read_text())
        path = work / "job.yaml"
        path.write_text(text)
        tally.inputs += 1
        started = time.monotonic()
        try:
            load_job_file(path)
            tally.codes["OK"] += 1
        except InvalidArgument as exc:
            tally.codes["INVALID_ARGUMENT"] += 1
            if not any(v.field for v in exc.violations):
                tally.fail("INVALID_ARGUMENT naming no field", f"{exc.message[:200]} <- {text[:200]!r}")
            if len(exc.message) > 2000:
                tally.fail("unbounded message", text[:200])
        except EigenError as exc:
            tally.codes[exc.code] += 1
            tally.fail(f"job file {exc.code}", f"{exc.message[:200]} <- {text[:200]!r}")
        except Exception as exc:
            tally.codes[type(exc).__name__] += 1
            tally.fail(f"crash {type(exc).__name__}", f"{str(exc)[:200]} <- {text[:200]!r}")
        took = time.monotonic() - started
        tally.slowest_s = max(tally.slowest_s, took)
        if took > HANG_S:
            tally.fail("hang", text[:200])
    return tally


# -- a server to fuzz ------------------------------------------------------------------------
@dataclass
class Served:
    """A running ``eigen-server serve`` process, its addresses and its output files."""

    process: subprocess.Popen[bytes]
    address: str
    http_address: str
    stdout: Path
    stderr: Path

    def output_bytes(self) -> tuple[int, int]:
        """Bytes written so far to (stdout, stderr)."""
        return self.stdout.stat().st_size, self.stderr.stat().st_size


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def served(folder: Path, env: dict[str, str] | None = None) -> Iterator[Served]:
    """``eigen-server serve`` on free loopback ports (gRPC and HTTP) with its data in
    ``folder``, stdout and stderr in files there; killed at the end."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    port, http_port = _free_port(), _free_port()
    stdout, stderr = folder / "server.stdout", folder / "server.stderr"
    command = [sys.executable, "-m", "eigen.server", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--http-port", str(http_port), "--log-level", "WARNING"]
    environment = {**os.environ, "EIGEN_DATA_DIR": str(folder / "data"), **(env or {})}
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(command, env=environment, stdout=out, stderr=err)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        with grpc.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                assert process.poll() is None, f"server exited with {process.returncode}"
                try:
                    # SERVING, and its start lines written (after HTTP started): the stdout
                    # it writes from now on is what inputs made it write
                    serving = health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1
                    if serving and b"serving HTTP on" in stdout.read_bytes():
                        break
                except grpc.RpcError:
                    pass
                assert time.monotonic() < deadline, "the server did not become healthy"
                time.sleep(0.1)  # not serving yet: poll again
        yield Served(process, address, f"http://127.0.0.1:{http_port}", stdout, stderr)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
