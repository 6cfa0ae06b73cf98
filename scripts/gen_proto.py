"""Regenerates the Python gRPC stubs from proto/ into dreamstyle/ (run from anywhere).

`python scripts/gen_proto.py [OUT_DIR]` compiles with `-I proto`, so generated modules import each
other as `dreamstyle.v1...`. The stub test runs it into a temporary folder and compares.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"


def generate(out_dir: Path = ROOT) -> list[Path]:
    """Compiles every .proto under proto/ into OUT_DIR; returns the files written."""
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed on {protos}")
    return sorted(p for p in (out_dir / "dreamstyle").rglob("*_pb2*") if p.suffix in {".py", ".pyi"})


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT):
        print(path)
