"""Checks of model files that read only JSON files and safetensors headers: no torch, no weights.

The backends run them at start (`missing()`), so an incomplete download, a damaged file or a config
that does not match its weights is named before any job runs; the loaders apply the same rules.
Every ValueError raised here names the file and what is wrong with it.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FORMAT",
    "TOKEN_TYPES",
    "VERSION",
    "TokenLoRAFile",
    "checkpoint_tensors",
    "component_problems",
    "read_json",
    "read_token_lora",
    "safetensors_header",
    "token_lora_fit_problem",
    "wan_transformer_problem",
]

FORMAT = "dreamstyle-token-lora"
VERSION = "1"
FLOATS = ("F32", "F16", "BF16", "F64")  # safetensors' dtype names a token LoRA's tensors may have
TOKEN_TYPES: tuple[str, ...] = ("first_frame", "style_image", "video")
"""Token types in id order: 0 = prepended stylized first frame, 1 = appended style image, 2 = video."""

HEADER_MAX = 100_000_000  # the safetensors format caps its JSON header at 100 MB
WEIGHT_STEMS = ("diffusion_pytorch_model", "model", "pytorch_model")  # diffusers' and transformers' file names
# Files a non-model component needs (one of them), by a word of its name in model_index.json.
COMPONENT_FILES = {
    "scheduler": ("scheduler_config.json",),
    "tokenizer": ("tokenizer.json", "spiece.model", "tokenizer.model", "vocab.json", "vocab.txt"),
    "processor": ("preprocessor_config.json",),
    "feature_extractor": ("preprocessor_config.json",),
}
LORA_KEY = re.compile(r"(?P<layer>.+)\.lora_(?:down|up\.(?P<kind>[^.]+))\.weight")
WAN_LAYER = re.compile(r"blocks\.(\d+)\.(attn1\.(?:to_q|to_k|to_v|to_out\.0)|ffn\.net\.0\.proj|ffn\.net\.2)")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object file; ValueError when it is absent, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} cannot be read as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return data


def safetensors_header(path: Path) -> dict[str, Any]:
    """The header of a safetensors file whose size is what its header describes (do not modify it: cached)."""
    stat = Path(path).stat()
    return _header(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=1024)
def _header(path: str, size: int, mtime_ns: int) -> dict[str, Any]:
    # Read by hand, not with safetensors.safe_open: `missing()` runs these checks on engines without the `ml`
    # extra (which brings safetensors), to say what to install or fix.
    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8), "little") if size >= 8 else -1
        if not 0 < length <= min(HEADER_MAX, size - 8):
            raise ValueError(f"{path} is not a safetensors file (or is cut short before the end of its header)")
        try:
            header = json.loads(f.read(length))
            end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
            shapes_ok = all(isinstance(v["shape"], list) for k, v in header.items() if k != "__metadata__")
        except (UnicodeDecodeError, ValueError, TypeError, KeyError, IndexError, AttributeError):
            raise ValueError(f"{path} is not a safetensors file (its header is not valid)") from None
    if not shapes_ok:
        raise ValueError(f"{path} has a damaged safetensors header (a tensor without a shape)")
    described = 8 + length + end
    if size < described:
        raise ValueError(f"{path} is cut short: its header describes {described} bytes, the file holds {size} "
                         "(an incomplete download or copy)")
    if size > described:
        raise ValueError(f"{path} holds {size - described} bytes more than its header describes (a damaged file)")
    return header


def checkpoint_tensors(folder: Path) -> dict[str, dict[str, Any]]:
    """The tensor entries (dtype, shape) of the checkpoint in `folder`: its safetensors file, or every shard its
    index names ({} for a .bin checkpoint, whose tensors are not read). ValueError names what is absent or damaged."""
    for stem in WEIGHT_STEMS:
        for suffix in (".safetensors", ".safetensors.index.json", ".bin", ".bin.index.json"):
            path = folder / f"{stem}{suffix}"
            if not path.is_file():
                continue
            if suffix == ".safetensors":
                return _tensors(path)
            return _sharded(path) if suffix.endswith(".index.json") else {}
    raise ValueError(f"{folder} holds no weights (no {WEIGHT_STEMS[0]}.safetensors, model.safetensors, "
                     "nor the .index.json of a sharded checkpoint)")


def _tensors(path: Path) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in safetensors_header(path).items() if k != "__metadata__"}


def _sharded(index: Path) -> dict[str, dict[str, Any]]:
    """Every shard a sharded checkpoint's index names, each whole."""
    weight_map = read_json(index).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise ValueError(f"{index} has no weight_map naming its shards")
    shards = sorted(set(map(str, weight_map.values())))
    absent = [s for s in shards if not (index.parent / s).is_file()]
    if absent:
        raise ValueError(f"{index.parent} lacks {len(absent)} of the {len(shards)} shards {index.name} names "
                         f"({', '.join(absent[:3])})")
    tensors: dict[str, dict[str, Any]] = {}
    for shard in shards:
        if shard.endswith(".safetensors"):
            tensors.update(_tensors(index.parent / shard))
    return tensors


def component_problems(folder: Path) -> list[str]:
    """What the components that `folder`'s model_index.json lists lack: the subfolder, its files, whole weights."""
    problems = []
    for name, spec in read_json(folder / "model_index.json").items():
        if name.startswith("_") or not (isinstance(spec, list) and spec and spec[0]):
            continue  # an attribute (boundary_ratio...) or a component left out ([null, null])
        sub = folder / name
        if not sub.is_dir():
            problems.append(f"{name}/ is missing (model_index.json lists it)")
        elif problem := _component_problem(sub, name):
            problems.append(problem)
    return problems


def _component_problem(sub: Path, name: str) -> str | None:
    files = next((files for word, files in COMPONENT_FILES.items() if word in name), None)
    if files is not None:
        return None if any((sub / f).is_file() for f in files) else f"{name}/ has no {' or '.join(files)}"
    if not (sub / "config.json").is_file():
        return f"{name}/ has no config.json"
    try:
        checkpoint_tensors(sub)
    except (OSError, ValueError) as exc:
        return str(exc)
    return None


def wan_transformer_problem(transformer: Path) -> str | None:
    """Where a Wan transformer's config.json disagrees with its weights (block count, widths, input channels)."""
    config, tensors = read_json(transformer / "config.json"), checkpoint_tensors(transformer)
    blocks = {int(m[1]) for key in tensors if (m := re.match(r"blocks\.(\d+)\.", key))}
    if blocks and len(blocks) != config.get("num_layers"):
        return (f"{transformer}/config.json says num_layers={config.get('num_layers')} but its weights hold "
                f"{len(blocks)} blocks: the config and the weights come from different models")
    width = config.get("num_attention_heads", 0) * config.get("attention_head_dim", 0)
    expected = {
        "blocks.0.attn1.to_q.weight": ([width, width], "num_attention_heads x attention_head_dim"),
        "blocks.0.ffn.net.0.proj.weight": ([config.get("ffn_dim"), width], "ffn_dim"),
        "patch_embedding.weight": ([width, config.get("in_channels")], "in_channels"),
    }
    for key, (shape, fields) in expected.items():
        if key in tensors and tensors[key]["shape"][:2] != shape:
            return (f"{transformer}/config.json does not match its weights: {key} is {tensors[key]['shape'][:2]}, "
                    f"its {fields} make it {shape}: the config and the weights come from different models")
    return None


@dataclass(frozen=True)
class TokenLoRAFile:
    """A token LoRA's layout, from its header: per layer, the (rank, in) down and (out, rank) up shapes."""

    path: Path
    rank: int
    alpha: float
    layers: dict[str, tuple[tuple[int, int], tuple[int, int]]]


def read_token_lora(path: Path) -> TokenLoRAFile:
    """Checks a token LoRA's header: whole file, format, rank/alpha/token_types metadata, a down and an up per
    token type for every layer, shapes that agree with the rank. ValueError names the file and the problem."""
    try:
        header = safetensors_header(path)
    except OSError as exc:
        raise ValueError(f"adapter {path} cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ValueError(f"adapter {exc}") from None
    meta = header.get("__metadata__") or {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"adapter {path} is not a DreamStyle token LoRA (no format={FORMAT} metadata)")
    absent = [key for key in ("version", "rank", "alpha", "token_types") if key not in meta]
    if absent:
        raise ValueError(f"adapter {path}: its metadata lacks {', '.join(absent)} (format, version, rank, alpha and "
                         "token_types are written by save_token_lora)")
    if meta["version"] != VERSION:
        raise ValueError(f"adapter {path}: metadata version={meta['version']!r}; this engine reads version {VERSION}")
    rank, alpha = _rank_alpha(path, meta)
    _check_token_types(path, meta["token_types"])
    parts: dict[str, dict[str, list[int]]] = {}
    for key, entry in header.items():
        match = LORA_KEY.fullmatch(key)
        if key != "__metadata__" and (match is None or match["kind"] not in (None, *TOKEN_TYPES)):
            raise ValueError(f"adapter {path}: tensor {key} is not in the token LoRA schema "
                             f"(LAYER.lora_down.weight, LAYER.lora_up.{{{','.join(TOKEN_TYPES)}}}.weight)")
        if match is None:
            continue
        if (dtype := entry.get("dtype")) not in FLOATS:
            raise ValueError(f"adapter {path}: tensor {key} is {dtype}; a token LoRA's tensors are floating point "
                             f"({', '.join(FLOATS)})")
        parts.setdefault(match["layer"], {})[match["kind"] or "down"] = entry["shape"]
    if not parts:
        raise ValueError(f"adapter {path} holds no token LoRA tensors")
    layers = {name: _layer_shapes(path, name, shapes, rank) for name, shapes in parts.items()}
    return TokenLoRAFile(Path(path), rank, alpha, layers)


def _rank_alpha(path: Path, meta: dict[str, str]) -> tuple[int, float]:
    try:
        rank, alpha = int(meta["rank"]), float(meta["alpha"])
    except ValueError:
        rank, alpha = 0, math.nan
    if rank < 1 or not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"adapter {path}: metadata rank={meta['rank']!r}, alpha={meta['alpha']!r}: rank must be a "
                         "whole number and alpha a finite number, both above 0")
    return rank, alpha


def _check_token_types(path: Path, listed: str) -> None:
    kinds = listed.split(",")
    if sorted(kinds) != sorted(TOKEN_TYPES):
        unknown = sorted(set(kinds) - set(TOKEN_TYPES))
        lacking = [k for k in TOKEN_TYPES if k not in kinds]
        details = [f"unknown: {', '.join(unknown)}"] if unknown else []
        details += [f"missing: {', '.join(lacking)}"] if lacking else []
        raise ValueError(f"adapter {path}: metadata token_types={listed!r} must name {', '.join(TOKEN_TYPES)} once "
                         f"each ({'; '.join(details) or 'repeated'})")


def _layer_shapes(
    path: Path, name: str, parts: dict[str, list[int]], rank: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    lacking = [f"lora_{p}.weight" for p in ("down", *(f"up.{k}" for k in TOKEN_TYPES))
               if p.removeprefix("up.") not in parts]
    if lacking:
        raise ValueError(f"adapter {path}: {name} lacks {', '.join(lacking)}")
    down, ups = parts["down"], [parts[k] for k in TOKEN_TYPES]
    if len(down) != 2 or down[0] != rank:
        raise ValueError(f"adapter {path}: {name}.lora_down.weight has shape {down}; rank {rank} (its metadata) "
                         f"needs [{rank}, in_features]")
    if any(len(up) != 2 or up[1] != rank or up != ups[0] for up in ups):
        raise ValueError(f"adapter {path}: {name}'s up matrices have shapes {ups}; rank {rank} (its metadata) needs "
                         f"[out_features, {rank}] for each token type")
    return (down[0], down[1]), (ups[0][0], ups[0][1])


def token_lora_fit_problem(lora: TokenLoRAFile, config: dict[str, Any]) -> str | None:
    """Where the adapter's layers do not fit the transformer `config` describes (Wan's self-attention and FFN
    linears only, block count, widths)."""
    width = config.get("num_attention_heads", 0) * config.get("attention_head_dim", 0)
    ffn, blocks = config.get("ffn_dim"), config.get("num_layers", 0)
    for name, (down, up) in sorted(lora.layers.items()):
        match = WAN_LAYER.fullmatch(name)
        if match is None:  # cross-attention's keys and values see the prompt's tokens, which carry no token types
            return (f"adapter {lora.path} has layer {name}, which is not one of the self-attention and FFN linears "
                    "a token LoRA adapts (blocks.N.attn1.to_q, to_k, to_v, to_out.0, ffn.net.0.proj, ffn.net.2); "
                    "it was trained for another model")
        if int(match[1]) >= blocks:
            return (f"adapter {lora.path} has layer {name}, this model has {blocks} blocks "
                    f"(blocks.0 to blocks.{blocks - 1})")
        wanted = {"ffn.net.0.proj": (width, ffn), "ffn.net.2": (ffn, width)}.get(match[2], (width, width))
        if match[2].startswith("attn1") and down[1] != width:
            return f"adapter {lora.path} was trained for a transformer of width {down[1]}, this model's is {width}"
        if (down[1], up[0]) != wanted:
            return (f"adapter {lora.path}: {name} maps {down[1]} to {up[0]} features, this model's maps {wanted[0]} "
                    f"to {wanted[1]} (transformer/config.json: width {width}, ffn_dim {ffn}); it was trained for "
                    "another model")
    return None
