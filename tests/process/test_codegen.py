"""generated/ is exactly what scripts/gen_protos.py makes from protos/; the check says how to fix
drift. The generated modules also import from an installed wheel, not only from the checkout."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkout_copy(tmp_path: Path) -> Path:
    for tree in ("protos", "generated"):
        shutil.copytree(ROOT / tree, tmp_path / tree)
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "gen_protos.py", tmp_path / "scripts" / "gen_protos.py")
    return tmp_path


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_committed_code_matches_protos(checkout_copy: Path) -> None:
    result = check(checkout_copy)
    assert result.returncode == 0, result.stderr


def test_deleted_generated_line_fails_with_how_to_regenerate(checkout_copy: Path) -> None:
    target = checkout_copy / "generated" / "deskhook" / "v1" / "event_pb2.pyi"
    lines = target.read_text().splitlines(keepends=True)
    target.write_text("".join(lines[:10] + lines[11:]))
    result = check(checkout_copy)
    assert result.returncode != 0
    assert "deskhook/v1/event_pb2.pyi" in result.stderr
    assert "Regenerate with scripts/gen_protos.py" in result.stderr


def test_proto_edited_without_regenerating_fails(checkout_copy: Path) -> None:
    proto = checkout_copy / "protos" / "deskhook" / "v1" / "event.proto"
    proto.write_text(
        proto.read_text().replace(
            "  int32 score = 1;", "  int32 score = 1;\n  // New.\n  string extra = 3;"
        )
    )
    result = check(checkout_copy)
    assert result.returncode != 0
    assert "deskhook/v1/event_pb2.py" in result.stderr
    assert "Regenerate with scripts/gen_protos.py" in result.stderr


def test_stray_generated_file_fails(checkout_copy: Path) -> None:
    (checkout_copy / "generated" / "deskhook" / "v1" / "old_pb2.py").write_text("")
    result = check(checkout_copy)
    assert result.returncode != 0
    assert "old_pb2.py (not generated from any proto)" in result.stderr


def test_wheel_ships_service_and_generated_modules(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("deskhook-*.whl")
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    site_packages = next(p for p in sys.path if p.endswith("site-packages"))
    # -S skips .pth files, so the editable checkout is not on the path: only the wheel is.
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]];"
        "import deskhook.server, deskhook.v1.channel_admin_pb2_grpc as g;"
        "from deskhook.store.migration_files import load_migrations as m;"
        "assert g.__file__.startswith(sys.argv[1]), g.__file__;"
        "assert deskhook.server.__file__.startswith(sys.argv[1]);"
        "assert m('deskhook.store.sqlite') and m('deskhook.store.postgres')"
    )
    subprocess.run(
        [sys.executable, "-S", "-c", probe, str(unpacked), site_packages], check=True, timeout=60
    )
