"""The committed generated code is what scripts/gen_protos.py makes from the .proto files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "src" / "eigen" / "proto"


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--out", str(tmp_path)],
        check=True,
    )
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*_pb2*.py*"))
    committed = sorted(p.relative_to(ROOT / "src") for p in GENERATED.rglob("*_pb2*.py*"))
    assert fresh == committed, "run: .venv/bin/python scripts/gen_protos.py"
    for relative in fresh:
        assert (tmp_path / relative).read_text() == (ROOT / "src" / relative).read_text(), (
            f"{relative} is stale; run: .venv/bin/python scripts/gen_protos.py"
        )
