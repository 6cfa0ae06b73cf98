"""The checked-in stubs are exactly what a fresh generation from proto/ gives."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _generate(out: Path) -> list[Path]:
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate(out)


def test_stubs_match_a_fresh_generation(tmp_path):
    fresh = _generate(tmp_path)
    assert fresh, "no stubs generated"
    for path in fresh:
        relative = path.relative_to(tmp_path)
        checked_in = ROOT / relative
        assert checked_in.exists(), f"{relative} is generated but not checked in: run scripts/gen_proto.py"
        assert checked_in.read_bytes() == path.read_bytes(), f"{relative} differs: run scripts/gen_proto.py"
    checked = {p.relative_to(ROOT) for p in (ROOT / "dreamstyle").rglob("*_pb2*") if p.suffix in {".py", ".pyi"}}
    assert checked == {p.relative_to(tmp_path) for p in fresh}, "stale stubs without a .proto"
