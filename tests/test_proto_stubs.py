"""The checked-in stubs are exactly what a fresh generation from proto/ gives."""

import importlib.util
from pathlib import Path

from google.protobuf import descriptor_pb2

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


def _described(tmp: Path) -> tuple[descriptor_pb2.FileDescriptorProto, set[tuple[int, ...]], dict[tuple[int, ...], int]]:
    """engine.proto's descriptor, the paths of what carries a comment and the line each element starts on."""
    from grpc_tools import protoc

    out = tmp / "engine.desc"
    include = Path(protoc.__file__).parent / "_proto"
    assert protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"-I{include}", "--include_source_info",
                        f"--descriptor_set_out={out}", "dreamstyle/v1/engine.proto"]) == 0
    proto = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    locations = proto.source_code_info.location
    said = {tuple(place.path) for place in locations if place.leading_comments.strip() or place.trailing_comments.strip()}
    return proto, said, {tuple(place.path): place.span[0] for place in locations}


def test_every_field_rpc_and_enum_of_the_contract_is_described(tmp_path):
    """A client written from engine.proto alone (grpcurl, another language) learns each field's meaning, unit and
    range there: every field has a comment, or continues on the next line a group whose first field has one."""
    proto, said, line = _described(tmp_path)
    bare = [f"rpc {m.name}" for i, m in enumerate(proto.service[0].method) if (6, 0, 2, i) not in said]

    def messages(found, path: tuple[int, ...], prefix: str) -> None:
        for i, message in enumerate(found):
            here = (*path, i)
            if message.options.map_entry:
                continue
            described = False
            for j, field in enumerate(message.field):
                grouped = j > 0 and described and line[(*here, 2, j)] == line[(*here, 2, j - 1)] + 1
                described = (*here, 2, j) in said or grouped
                if not described:
                    bare.append(f"field {prefix}{message.name}.{field.name}")
            for j, enum in enumerate(message.enum_type):
                enums(enum, (*here, 4, j))
            messages(message.nested_type, (*here, 3), f"{prefix}{message.name}.")

    def enums(enum, path: tuple[int, ...]) -> None:
        assert enum.value[0].number == 0 and enum.value[0].name.endswith("_UNSPECIFIED"), enum.name
        if path not in said and any((*path, 2, k) not in said for k in range(1, len(enum.value))):
            bare.append(f"enum {enum.name}")

    messages(proto.message_type, (4,), "")
    for i, enum in enumerate(proto.enum_type):
        enums(enum, (5, i))
    assert not bare, f"say in engine.proto what these are (unit, range, required or what unset means): {bare}"
