"""Regenerate the Python code for the protos beside them, or check it is current.

    python protos/generate.py           # rewrite the generated files
    python protos/generate.py --check   # exit 1 when a generated file is stale

The generated modules live next to their .proto files, so `protos/` is the import root of
the `biometric` package (see pyproject.toml).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.glob("biometric/**/*.proto"))


def generate(out_dir: Path) -> None:
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p.relative_to(PROTO_ROOT)) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def generated_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.glob("biometric/**/*"))
        if p.name.endswith(SUFFIXES)
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if generated code is stale")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        fresh_root = Path(tmp)
        generate(fresh_root)
        fresh = generated_files(fresh_root)
        current = generated_files(PROTO_ROOT)
        if args.check:
            stale = sorted(
                k for k in fresh.keys() | current.keys() if fresh.get(k) != current.get(k)
            )
            for name in stale:
                print(f"stale: protos/{name}")
            return 1 if stale else 0
        for name in current.keys() - fresh.keys():
            (PROTO_ROOT / name).unlink()
        for name, content in fresh.items():
            (PROTO_ROOT / name).write_bytes(content)
        for package_dir in {(PROTO_ROOT / n).parent for n in fresh}:
            for d in [package_dir, *package_dir.relative_to(PROTO_ROOT).parents]:
                init = PROTO_ROOT / d / "__init__.py"
                if d != Path(".") and not init.exists():
                    init.write_text("")
        print(f"generated {len(fresh)} files under protos/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
