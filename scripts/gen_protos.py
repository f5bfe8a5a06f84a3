#!/usr/bin/env python3
"""Regenerate generated/ from protos/, or with --check fail if generated/ is stale.

generated/ holds the protobuf and gRPC modules with their mypy stubs. It is committed and never
edited by hand: this script is the only thing that writes it.
"""

import argparse
import filecmp
import sys
import tempfile
from importlib.resources import files
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GENERATED = ROOT / "generated"


def generate(out: Path) -> None:
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    well_known = str(files("grpc_tools") / "_proto")
    # The mypy plugins are installed next to this interpreter, which may not be on PATH.
    plugins = Path(sys.executable).parent
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTOS}",
        f"--proto_path={well_known}",
        f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out=async_only,generate_concrete_servicer_stubs:{out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")


def tree(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()}


def stale_files(expected: Path) -> list[str]:
    expected_files, actual_files = tree(expected), tree(GENERATED)
    differing = [
        str(p)
        for p in sorted(expected_files & actual_files)
        if not filecmp.cmp(expected / p, GENERATED / p, shallow=False)
    ]
    missing = [f"{p} (missing)" for p in sorted(expected_files - actual_files)]
    extra = [f"{p} (not generated from any proto)" for p in sorted(actual_files - expected_files)]
    return differing + missing + extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check generated/ for drift")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        generate(out)
        if options.check:
            stale = stale_files(out)
            if stale:
                print("generated/ does not match protos/:", *stale, sep="\n  ", file=sys.stderr)
                sys.exit(
                    "Regenerate with scripts/gen_protos.py and commit protos/ and generated/"
                    " together."
                )
            print("generated/ matches protos/")
            return
        if GENERATED.exists():
            for path in sorted(GENERATED.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
        GENERATED.mkdir(exist_ok=True)
        for relative in sorted(tree(out)):
            target = GENERATED / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((out / relative).read_bytes())
        print(f"wrote {len(tree(out))} files to generated/")


if __name__ == "__main__":
    main()
