"""The committed generated code is what scripts/gen_protos.py makes from the .proto files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "src" / "eigen" / "proto"


def generated(folder: Path, root: Path) -> list[Path]:
    """The generated sources under ``folder`` (``.py`` and ``.pyi``; not bytecode caches)."""
    return sorted(p.relative_to(root) for p in folder.rglob("*_pb2*.py*") if p.suffix in (".py", ".pyi"))


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--out", str(tmp_path)],
        check=True,
    )
    fresh = generated(tmp_path, tmp_path)
    committed = generated(GENERATED, ROOT / "src")
    assert fresh == committed, "run: .venv/bin/python scripts/gen_protos.py"
    for relative in fresh:
        assert (tmp_path / relative).read_text() == (ROOT / "src" / relative).read_text(), (
            f"{relative} is stale; run: .venv/bin/python scripts/gen_protos.py"
        )
