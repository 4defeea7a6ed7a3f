"""Regenerate the committed gRPC/protobuf code from src/eigen/proto/**/*.proto.

Run: .venv/bin/python scripts/gen_protos.py [--out DIR]
A test (tests/unit/test_proto_fresh.py) regenerates into a temporary folder and compares.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"


def proto_files() -> list[Path]:
    return sorted((SRC / "eigen" / "proto").rglob("*.proto"))


def generate(out: Path) -> None:
    include = str(resources.files("grpc_tools") / "_proto")
    for proto in proto_files():
        relative = proto.relative_to(SRC)
        args = [
            "grpc_tools.protoc",
            f"-I{SRC}",
            f"-I{include}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            str(relative),
        ]
        code = protoc.main(args)
        if code != 0:
            raise SystemExit(f"protoc failed on {relative}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=SRC)
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)

    os.chdir(SRC)
    generate(out.resolve())
    print(f"generated code for {len(proto_files())} proto files under {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
