"""Reading a ``program.eigen.py`` into a :class:`~eigen.lang.program.LangProgram`.

The program is parsed (:mod:`eigen.lang.rules`), its top level sorted
(:mod:`eigen.lang.module`), its constants and then the ``@hybrid_program`` function body
walked statement by statement. Nothing is imported, executed or evaluated by Python: each
allowed form is interpreted here, everything else is an INVALID_ARGUMENT with its line.

Body statements: ``name = value`` (a DSL call, a number, arithmetic, a literal), a gate /
``measure`` / ``measure_all`` / ``reset`` call on its own, any other DSL call on its own,
docstrings, ``pass`` and a final ``return`` (any value, :mod:`eigen.lang.returns`).

The circuit is every gate call in order. Its width is the sum of the ``QubitRegister``
sizes, or (with no register) one more than the highest qubit index used by a gate or an
``Observable`` (or the length of the longest Pauli label). Classical bits: the sum of the
``ClassicalRegister`` sizes, else one per qubit.

Hybrid programs (with ``ExpectationValue`` or ``minimize``): the circuit is the
**unmeasured ansatz**. The kernel appends basis rotations and measurements per observable
group, so no measure-all is added and explicit measurements (with their basis changes) are
left out; they must come after every gate on their qubits. Plain programs without any
measurement get every qubit measured at the end. A plain program with no gate, reset or
measurement at all is ``empty``: the kernel runs nothing for it (no experiments).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

from qiskit.circuit import Parameter

from eigen.errors import quote
from eigen.lang.diagnostics import fail
from eigen.lang.expressions import Evaluator
from eigen.lang.gates import (
    GATES,
    Op,
    build_circuit,
    check_ops,
    max_qubit,
    read_gate,
    read_measure,
    read_measure_all,
    read_reset,
)
from eigen.lang.hybrid import HybridParts, initial_params, read_expectation, read_minimize
from eigen.lang.module import decorator_options, split_module, statement_name
from eigen.lang.names import Imports
from eigen.lang.observable import observable_terms, read_observable, required_width
from eigen.lang.program import LangProgram
from eigen.lang.returns import RawReturn, finish_returns, flat_returns, read_return
from eigen.lang.rules import MAX_OPERATIONS, MAX_QUBITS, parse_checked
from eigen.lang.signature import bind
from eigen.lang.values import (
    ClassicalRegisterValue,
    DatasetValue,
    Declarations,
    ObservableValue,
    ParamValue,
    QubitRegisterValue,
    describe,
)
from eigen.models.compiled import HybridSpec

PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_STATEMENT_CALLS = frozenset({*GATES, "measure", "measure_all", "reset"})
_FUNCTION_ONLY = frozenset({"ExpectationValue", "minimize"})
_NOT_CALLABLE_HINTS = {
    "OptimizationResult": "it is what minimize() returns",
    "hybrid_program": "it only decorates the entry function",
    "optimizers": "it is a module",
    "NotRunnableError": "it is an exception of the eigen_lang stubs",
}


def read_program(source: str, entrypoint: str = "main") -> LangProgram:
    """Read an Eigen-Lang program without running it; raises ``InvalidArgument``."""
    return _Reader().read(source, entrypoint)


class _Reader:
    def __init__(self) -> None:
        self.imports = Imports()
        self.ev = Evaluator(self.imports, self._call)
        self.decl = Declarations()
        self.ops: list[Op] = []
        self.operations = 0  # instructions of the ops so far (a register's reset: one each)
        self.parts = HybridParts()
        self.returned: RawReturn | None = None
        self.in_function = False
        self._handlers: dict[str, Callable[[ast.Call], object]] = {
            "Param": self._param,
            "QubitRegister": self._qubit_register,
            "ClassicalRegister": self._classical_register,
            "Observable": self._observable,
            "ExpectationValue": lambda call: read_expectation(call, self.ev, self.parts),
            "minimize": lambda call: read_minimize(call, self.ev, self.parts),
            "load_dataset": self._dataset,
            "DatasetRef": self._dataset,
        }

    def read(self, source: str, entrypoint: str) -> LangProgram:
        tree = parse_checked(source)
        module = split_module(tree, entrypoint, self.imports)
        for stmt in module.assignments:
            self._assign(stmt)
        decorator = decorator_options(module.decorator, self.ev)
        self.in_function = True
        self._body(module.function.body)
        return self._finish(module.function.name, decorator)

    # -- statements ------------------------------------------------------------------

    def _body(self, body: list[ast.stmt]) -> None:
        for index, stmt in enumerate(body):
            if isinstance(stmt, ast.Return):
                if index != len(body) - 1:
                    fail(body[index + 1], "statements after 'return' are not allowed")
                self.returned = read_return(stmt, self.ev)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign):
                self._assign(stmt)
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                self._statement_call(stmt.value)
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                if not isinstance(stmt.value.value, str) and stmt.value.value is not Ellipsis:
                    fail(stmt, "a constant on its own has no effect")
            elif not isinstance(stmt, ast.Pass):
                fail(stmt, f"{statement_name(stmt)} is not allowed in an Eigen-Lang function")

    def _assign(self, stmt: ast.Assign | ast.AnnAssign) -> None:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if len(targets) != 1 or not isinstance(targets[0], ast.Name):
            fail(stmt, "assign to exactly one plain name (no unpacking, a.b = or a[i] =)")
        if stmt.value is None:
            fail(stmt, "an annotated name needs a value")
        self.ev.scope[targets[0].id] = self.ev.value(stmt.value)

    def _statement_call(self, call: ast.Call) -> None:
        name = self._resolve(call)
        if name not in _STATEMENT_CALLS:
            self._call(call)
            return
        if name in GATES:
            op = read_gate(name, call, self.ev)
        elif name == "measure":
            op = read_measure(call, self.ev)
        elif name == "measure_all":
            op = read_measure_all(call)
        else:
            op = read_reset(call, self.ev)
        self.ops.append(op)
        # Bounded while reading, not only once the width is known (check_ops): each call
        # may name a whole register.
        self.operations += 1 if op.kind == "gate" else max(len(op.qubits), 1)
        if self.operations > MAX_OPERATIONS:
            fail(call, f"the circuit has more than {MAX_OPERATIONS} operations")

    # -- calls -----------------------------------------------------------------------

    def _resolve(self, call: ast.Call) -> str:
        func = call.func
        if isinstance(func, ast.Name) and func.id in self.ev.scope:
            value = self.ev.scope[func.id]
            fail(call, f"{quote(func.id)} is {describe(value)} here, not a function")
        name = self.imports.dsl_name(func)
        if name is not None:
            return name
        shown = ast.unparse(func)
        fail(
            call,
            f"{quote(shown)} is not an Eigen-Lang function; only the DSL (gates, Param, "
            "Observable, ExpectationValue, minimize, ...) can be called",
        )

    def _call(self, call: ast.Call) -> object:
        """A DSL call used as a value (or a non-gate call on its own)."""
        name = self._resolve(call)
        if name in _STATEMENT_CALLS:
            fail(call, f"{name}() is a gate or measurement; call it on its own line")
        if name in _FUNCTION_ONLY and not self.in_function:
            fail(call, f"{name}() must be inside the @hybrid_program function")
        handler = self._handlers.get(name)
        if handler is None:
            hint = _NOT_CALLABLE_HINTS.get(name, "it is not callable")
            fail(call, f"{quote(name)} cannot be called in an Eigen-Lang program ({hint})")
        return handler(call)

    def _param(self, call: ast.Call) -> ParamValue:
        bound = bind(call, "Param", ("name", "default"), required=("name",))
        name = self.ev.string(bound.args["name"], "the Param name")
        if not PARAM_NAME.fullmatch(name):
            fail(call, f"Param name {quote(name)} must be an identifier (letters, digits, '_')")
        if name in self.decl.params:
            first = self.decl.params[name].line
            fail(call, f"duplicate Param name {quote(name)} (first declared on line {first})")
        default: float | None = None
        if (node := bound.get("default")) is not None and self.ev.value(node) is not None:
            default = self.ev.number(node, f"the default of Param {quote(name)}")
        param = ParamValue(name, default, Parameter(name), call.lineno)
        self.decl.params[name] = param
        return param

    def _register_size(self, call: ast.Call, kind: str, declared: int) -> int:
        bound = bind(call, kind, ("size", "name"), required=("size",))
        size = self.ev.integer(bound.args["size"], f"the {kind} size")
        if size < 1:
            fail(call, f"a {kind} needs at least one bit")
        if declared + size > MAX_QUBITS:
            fail(call, f"{kind}s may hold at most {MAX_QUBITS} bits in all")
        if (node := bound.get("name")) is not None:
            self.ev.string(node, f"the {kind} name")
        return size

    def _qubit_register(self, call: ast.Call) -> QubitRegisterValue:
        offset = self.decl.declared_qubits
        register = QubitRegisterValue(offset, self._register_size(call, "QubitRegister", offset))
        self.decl.qregs.append(register)
        return register

    def _classical_register(self, call: ast.Call) -> ClassicalRegisterValue:
        offset = self.decl.declared_clbits
        size = self._register_size(call, "ClassicalRegister", offset)
        register = ClassicalRegisterValue(offset, size)
        self.decl.cregs.append(register)
        return register

    def _observable(self, call: ast.Call) -> ObservableValue:
        observable = read_observable(call, self.ev)
        self.decl.observables.append(observable)
        return observable

    def _dataset(self, call: ast.Call) -> DatasetValue:
        bound = bind(call, "load_dataset", ("source", "format"), required=("source",))
        source = self.ev.string(bound.args["source"], "the dataset source")
        fmt: str | None = None
        if (node := bound.get("format")) is not None and self.ev.value(node) is not None:
            fmt = self.ev.string(node, "the dataset format")
        dataset = DatasetValue(source, fmt)
        self.decl.datasets.append(dataset)
        return dataset

    # -- the result ------------------------------------------------------------------

    def _finish(self, entrypoint: str, decorator: dict[str, object]) -> LangProgram:
        decl, parts = self.decl, self.parts
        if decl.qregs:
            width = decl.declared_qubits
        else:
            observed = max(map(required_width, decl.observables), default=0)
            width = max(max_qubit(self.ops) + 1, observed, 1)
        clbits = decl.declared_clbits if decl.cregs else width
        hybrid = parts.is_hybrid
        check_ops(self.ops, width, clbits, hybrid=hybrid)
        for observable in decl.observables:
            observable_terms(observable, width)  # every Observable must fit the circuit
        circuit = build_circuit(self.ops, width, clbits, hybrid=hybrid)
        circuit.name = entrypoint
        returns = finish_returns(self.returned, width)
        spec: HybridSpec | None = None
        if hybrid:
            found = parts.minimize
            spec = HybridSpec(
                observables={
                    label: observable_terms(observable, width)
                    for label, observable in parts.expectations.items()
                },
                objective=found.objective if found else None,
                initial_params=initial_params(found, decl.params),
                returns=flat_returns(returns),
            )
            if found is not None:
                spec.method = found.method
                spec.options = dict(found.options)
                if found.max_iters is not None:
                    spec.max_iters = found.max_iters
        return LangProgram(
            circuit=circuit,
            defaults={n: p.default for n, p in decl.params.items() if p.default is not None},
            hybrid=spec,
            entrypoint=entrypoint,
            decorator=dict(decorator),
            parameters=list(decl.params),
            datasets=[{"source": d.source, "format": d.format} for d in decl.datasets],
            returns=returns,
            empty=not self.ops and not hybrid,
        )
