"""The wheel ships the schema; validation never needs tvm."""
import subprocess
import sys
import zipfile

from conftest import ROOT


def test_wheel_ships_the_schema(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("tlspec-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("tlspec/schemas/tlspec.schema.json")
        entry_points = archive.read(next(n for n in archive.namelist()
                                         if n.endswith("entry_points.txt"))).decode()
        names = archive.namelist()
    assert shipped == (ROOT / "schemas" / "tlspec.schema.json").read_bytes()
    assert "tlspec = tlspec.entry:main" in entry_points
    assert not any(name.startswith("codegen/") for name in names)


def test_validate_never_imports_tvm():
    code = ("import sys\n"
            "from tlspec.cli import app\n"
            "try:\n"
            "    app(['validate', 'specs/'], prog_name='tlspec')\n"
            "except SystemExit as done:\n"
            "    assert done.code == 0, done.code\n"
            "assert not any(m == 'tvm' or m.startswith('tvm.') for m in sys.modules)\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True)
