"""What eigen.lang refuses: forbidden constructs, limits, structure; nothing is executed."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
from lang_helpers import HEADER, error_line, marked_line, program, rejected

from eigen.lang import MAX_AST_NODES, MAX_SOURCE_BYTES, read_program

FORBIDDEN_BODIES = [
    ("if True:  # HERE\n    x(0)", "'if' statements are not allowed"),
    ("for i in [0, 1]:  # HERE\n    h(i)", "'for' loops are not allowed in Eigen-Lang"),
    ("while True:  # HERE\n    h(0)", "'while' loops are not allowed"),
    ("match 1:  # HERE\n    case 1:\n        h(0)", "'match' statements are not allowed"),
    ("a = 1 if True else 2  # HERE", "conditional expressions"),
    ("f = lambda: 0  # HERE", "lambdas are not allowed"),
    ("try:  # HERE\n    h(0)\nexcept Exception:\n    h(1)", "'try' statements"),
    ("with x(0):  # HERE\n    h(0)", "'with' statements"),
    ("global N  # HERE", "'global' statements"),
    ("nonlocal N  # HERE", "'nonlocal' statements"),
    ("a = [i for i in [1, 2]]  # HERE", "comprehensions"),
    ("a = {i: 1 for i in [1]}  # HERE", "comprehensions"),
    ("a = list(i for i in [1])  # HERE", "generator expressions"),
    ("exec('h(0)')  # HERE", "'exec' is not allowed"),
    ("eval('1')  # HERE", "'eval' is not allowed"),
    ("compile('1', 'f', 'exec')  # HERE", "'compile' is not allowed"),
    ("open('/tmp/x')  # HERE", "'open' is not allowed"),
    ("__import__('os')  # HERE", "'__import__' is not allowed"),
    ("getattr(h, 'x')  # HERE", "'getattr' is not allowed"),
    ("os.system('true')  # HERE", "access to 'os.system' is not allowed"),
    ("sys.exit(1)  # HERE", "access to 'sys.exit' is not allowed"),
    ("import os  # HERE", "import of 'os' is not allowed"),
    ("from subprocess import run  # HERE", "import of 'subprocess' is not allowed"),
    ("print('hi')  # HERE", "'print' is not an Eigen-Lang function"),
    ("h.__class__  # HERE", "private attributes"),
    ("del N  # HERE", "'del' statements"),
    ("raise ValueError  # HERE", "'raise' statements"),
    ("assert True  # HERE", "'assert' statements"),
    ("(a := 1)  # HERE", "assignment expressions"),
    ("a = f'{1}'  # HERE", "f-strings"),
    ("measure(*[0, 1])  # HERE", "star arguments"),
    ("h(**{'qubit': 0})  # HERE", "'**' arguments"),
    ("yield 1  # HERE", "'yield' is not allowed"),
    ("def helper():  # HERE\n    pass", "a nested function is not allowed"),
    ("a = 1\na += 1  # HERE", "augmented assignment"),
    ("a, b = 1, 2  # HERE", "assign to exactly one plain name"),
    ("a = (1 < 2)  # HERE", "comparisons are not supported"),
]


@pytest.mark.parametrize(("body", "message"), FORBIDDEN_BODIES)
def test_forbidden_constructs_are_rejected_with_their_line(body: str, message: str) -> None:
    source = program("h(0)\n" + body + "\nh(1)")
    error = rejected(source)
    assert message in str(error)
    assert error_line(error) == marked_line(source)


@pytest.mark.parametrize(
    ("top", "message"),
    [
        ("class A:  # HERE\n    pass", "classes are not allowed"),
        ("async def f():  # HERE\n    pass", "async functions are not allowed"),
        ("import socket  # HERE", "import of 'socket' is not allowed"),
        ("import numpy as np  # HERE", "import of 'numpy' is not allowed"),
        ("from . import x  # HERE", "import of '.' is not allowed"),
        ("from eigen_lang import nothing  # HERE", "'eigen_lang' has no name 'nothing'"),
        ("h(0)  # HERE", "is not allowed at the top level"),
        ("def helper():  # HERE\n    pass", "only the @hybrid_program function may be defined"),
        ("if __name__ == '__main__':  # HERE\n    main()", "'if' statements are not allowed"),
    ],
)
def test_forbidden_top_level_statements(top: str, message: str) -> None:
    source = HEADER + top + "\n\n" + "@hybrid_program\ndef main():\n    h(0)\n"
    error = rejected(source)
    assert message in str(error)
    assert error_line(error) == marked_line(source)


def test_the_error_message_format() -> None:
    source = program("h(0)\nfor i in [0]:\n    h(i)")
    error = rejected(source)
    assert str(error) == "program: line 8: 'for' loops are not allowed in Eigen-Lang"
    assert error.violations[0].description == "line 8: 'for' loops are not allowed in Eigen-Lang"


@pytest.fixture
def tripwires(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record any attempt to run a command or open a socket while a program is read."""
    calls: list[str] = []

    def trip(name: str):  # type: ignore[no-untyped-def]
        def record(*args: object, **kwargs: object) -> None:
            calls.append(name)
            raise AssertionError(f"{name} was called while reading a program")

        return record

    monkeypatch.setattr(os, "system", trip("os.system"))
    monkeypatch.setattr(subprocess, "Popen", trip("subprocess.Popen"))
    monkeypatch.setattr(socket, "socket", trip("socket.socket"))
    monkeypatch.setattr(socket, "create_connection", trip("socket.create_connection"))
    return calls


@pytest.mark.parametrize(
    "template",
    [
        # In the function body, at the top level, hidden in an argument or a default.
        program("open({path!r}, 'w').write('x')"),
        program("h(0)\nry(0, open({path!r}, 'w').write('x'))"),
        HEADER + "LOG = open({path!r}, 'w').write('x')\n@hybrid_program\ndef main():\n    h(0)\n",
        program("__import__('os').system('touch ' + {path!r})"),
        program("__import__('builtins').open({path!r}, 'w').write('x')"),
        "import os\nos.system('touch ' + {path!r})\n" + program("h(0)"),
        "import subprocess\nsubprocess.run(['touch', {path!r}])\n" + program("h(0)"),
        "import socket\nsocket.create_connection(('127.0.0.1', 9))\n" + program("h(0)"),
        program("h(0)\nsocket.socket().connect(('127.0.0.1', 9))"),
        program("h(0)\nexec(\"open({path!r}, 'w').write('x')\")"),
        program("h(0)\nbuiltins.open({path!r}, 'w')"),
        program("h(0)\n().__class__.__base__.__subclasses__()"),
        program("h(0)\nx(0).__globals__"),
        "@hybrid_program(metadata=open({path!r}, 'w').write('x'))\ndef main():\n    h(0)\n",
        program("h(0)", decorator="@(lambda f: open({path!r}, 'w'))"),
    ],
)
def test_programs_that_would_act_if_run_are_refused_and_never_run(
    template: str, tmp_path: Path, tripwires: list[str]
) -> None:
    target = tmp_path / "pwned"
    source = template.replace("{path!r}", repr(str(target)))
    rejected(source)
    assert not target.exists()
    assert tripwires == []


def test_entrypoint_mismatch_names_the_function_found() -> None:
    source = program("h(0)", name="run")
    error = rejected(source, entrypoint="main")
    assert "entrypoint 'main' not found" in str(error)
    assert "'run'" in str(error)
    assert error_line(error) == source.splitlines().index("def run():") + 1


def test_two_hybrid_program_functions() -> None:
    source = program("h(0)") + "\n\n" + program("h(1)", name="other").replace(HEADER, "")
    error = rejected(source)
    assert "exactly one @hybrid_program function" in str(error)
    assert "'main'" in str(error) and "'other'" in str(error)
    assert error_line(error) == source.splitlines().index("def other():") + 1


def test_no_hybrid_program_function() -> None:
    error = rejected(HEADER + "N = 1\n")
    assert "no function decorated with @hybrid_program" in str(error)


def test_entry_function_takes_no_arguments_and_no_other_decorators() -> None:
    assert "takes no arguments" in str(rejected(program("h(0)").replace("main()", "main(a)")))
    source = HEADER + "@hybrid_program\n@staticmethod\ndef main():\n    h(0)\n"
    assert "no other decorators" in str(rejected(source))


def test_bad_decorator_options() -> None:
    assert "shots must be a positive integer" in str(
        rejected(program("h(0)", decorator="@hybrid_program(shots=0)"))
    )
    assert "unexpected keyword argument 'colour'" in str(
        rejected(program("h(0)", decorator="@hybrid_program(colour='red')"))
    )


def test_source_over_256_kib_is_rejected_before_parsing() -> None:
    source = program("h(0)") + "#" * MAX_SOURCE_BYTES
    error = rejected(source)
    assert "256 KiB" in str(error)
    assert error_line(error) == 1
    # Exactly at the limit is fine.
    base = program("h(0)")
    read_program(base + "#" * (MAX_SOURCE_BYTES - len(base.encode())))


def test_too_many_nodes() -> None:
    body = "\n".join("h(0)" for _ in range(MAX_AST_NODES // 4))
    error = rejected(program(body))
    assert f"more than {MAX_AST_NODES} syntax nodes" in str(error)


def test_too_deep() -> None:
    deep = " + ".join(["1"] * 250)
    error = rejected(program(f"h(0)\na = {deep}  # HERE"))
    assert "nested more than 200 levels deep" in str(error)


@pytest.mark.parametrize(
    ("source", "line"),
    [
        (HEADER + "@hybrid_program\ndef main():\n    h(0\n    x(1)\n", 7),
        (HEADER + "@hybrid_program\ndef main():\nh(0)\n", 7),
        ("x = 1\n\ndef main(:\n    pass\n", 3),
        ("a = 'unterminated\n", 1),
    ],
)
def test_syntax_errors_report_their_line(source: str, line: int) -> None:
    error = rejected(source)
    assert "syntax error" in str(error)
    assert error_line(error) == line


def test_null_bytes_are_a_clean_error() -> None:
    assert "line 1" in str(rejected(program("h(0)") + "\0"))
