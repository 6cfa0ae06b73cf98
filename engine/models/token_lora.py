"""Token-specific LoRA (DreamStyle): one shared down matrix, one up matrix per token type.

For a wrapped linear `W`, `y = W x + (alpha / rank) * U[type(token)] (D x)`. Token types are per-token
ids set for a whole forward through `TokenRouter.route(ids)`: Wan's attention calls `to_q(x)` with no
extra arguments, so the ids cannot travel with the call. The up matrices start at zero, so an
untrained adapter leaves the base model's output unchanged.

Why not peft: its custom-layer API (`LoraVariant`, `_register_custom_module`) is experimental and
peft's state dict cannot hold several up matrices per layer; targeting follows peft's rules instead
(a string is a full regex match on the module path, a list matches path suffixes).

Safetensors key schema (paths are relative to the transformer, e.g. `blocks.0.attn1.to_q`):
    {path}.lora_down.weight            (rank, in_features)
    {path}.lora_up.{type}.weight       (out_features, rank), one per token type
metadata: format="dreamstyle-token-lora", version="1", rank, alpha, token_types (comma separated, all
three, in any order: the key names decide which token type an up matrix serves). `model_files.read_token_lora`
checks all of this from the header alone, at start and before loading.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from .model_files import FORMAT, TOKEN_TYPES, VERSION, read_token_lora

__all__ = [
    "TOKEN_TYPES",
    "WAN_TARGETS",
    "TokenLoRALinear",
    "TokenRouter",
    "inject_token_lora",
    "load_token_lora",
    "merge_token_lora",
    "remove_token_lora",
    "save_token_lora",
]

WAN_TARGETS = r"blocks\.\d+\.(attn1\.(to_q|to_k|to_v|to_out\.0)|ffn\.net\.(0\.proj|2))"
"""Wan's full self-attention and FFN linears (cross-attention is left alone, as in the paper)."""


class TokenRouter:
    """Holds the token-type ids of the sequence being denoised, shared by every wrapped linear."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, int, int]] | None = None
        self.length = 0

    @contextmanager
    def route(self, type_ids: torch.Tensor) -> Iterator[None]:
        """Routes tokens by `type_ids` (one id per sequence position) for the enclosed forwards."""
        ids = type_ids.detach().to("cpu", torch.long).flatten()
        change = torch.nonzero(ids[1:] != ids[:-1]).flatten().add(1).tolist()
        starts, ends = [0, *change], [*change, len(ids)]
        previous = self.runs, self.length
        self.runs = [(int(ids[s]), s, e) for s, e in zip(starts, ends)]
        self.length = len(ids)
        try:
            yield
        finally:
            self.runs, self.length = previous


class TokenLoRALinear(nn.Module):
    """A frozen linear plus a token-routed low-rank update; a plain linear when no ids are routed."""

    def __init__(self, base: nn.Linear, router: TokenRouter, rank: int, alpha: float, n_types: int) -> None:
        super().__init__()
        self.base = base
        self.router = router
        self.scale = alpha / rank
        factory = {"device": base.weight.device, "dtype": _param_dtype(base)}
        self.lora_down = nn.Parameter(torch.empty(rank, base.in_features, **factory))
        nn.init.kaiming_uniform_(self.lora_down, a=5**0.5)
        self.lora_up = nn.Parameter(torch.zeros(n_types, base.out_features, rank, **factory))
        self.merged: int | None = None  # the token type folded into `base` by merge_token_lora

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        runs = self.router.runs
        if runs is None:
            return out
        if x.shape[-2] != self.router.length:
            raise ValueError(f"token LoRA routed {self.router.length} token ids but got {x.shape[-2]} tokens")
        for kind, start, end in runs:
            if kind != self.merged:  # in place, one pass per run: no concatenation of the whole sequence
                hidden = nn.functional.linear(x[..., start:end, :].to(self.lora_down.dtype), self.lora_down)
                out[..., start:end, :].add_(nn.functional.linear(hidden, self.lora_up[kind]), alpha=self.scale)
        return out


def _param_dtype(base: nn.Linear) -> torch.dtype:
    """The LoRA's dtype: the base's, or bf16 when the base is stored in FP8 (layerwise casting)."""
    dtype = base.weight.dtype
    return torch.bfloat16 if dtype in (torch.float8_e4m3fn, torch.float8_e5m2) else dtype


def _targets(model: nn.Module, targets: str | Sequence[str]) -> list[str]:
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if isinstance(targets, str):
        return [n for n in names if re.fullmatch(targets, n)]
    return [n for n in names if any(n == t or n.endswith("." + t) for t in targets)]


def inject_token_lora(
    model: nn.Module,
    rank: int = 64,
    alpha: float | None = None,
    targets: str | Sequence[str] = WAN_TARGETS,
    n_types: int = len(TOKEN_TYPES),
) -> TokenRouter:
    """Wraps the targeted linears of `model` in place; returns the router that feeds them token ids."""
    names = _targets(model, targets)
    if not names:
        raise ValueError(f"token LoRA: no linear layer of {type(model).__name__} matches {targets!r}")
    router = TokenRouter()
    for name in names:
        parent, _, child = name.rpartition(".")
        holder = model.get_submodule(parent) if parent else model
        setattr(holder, child, TokenLoRALinear(getattr(holder, child), router, rank, alpha or rank, n_types))
    return router


def remove_token_lora(model: nn.Module) -> None:
    """Puts the original linears back (the adapter is dropped, not merged)."""
    for name, module in list(model.named_modules()):
        if isinstance(module, TokenLoRALinear):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, module.base)


@torch.no_grad()
def merge_token_lora(model: nn.Module, kind: str = "video") -> None:
    """Folds `kind`'s update into the base weights (inference only; exact up to the weights' rounding).

    Afterwards tokens of `kind` cost nothing extra and the others use `U_t - U_kind`; the weights are
    computed in float32 and cast back. FP8-stored (layerwise-cast) bases are refused: a LoRA update is
    far smaller than an FP8 step (about 12% of a weight), so rounding would erase it.
    """
    index = TOKEN_TYPES.index(kind)
    layers = _wrapped(model).values()
    if any(layer.base.weight.element_size() == 1 for layer in layers):
        raise ValueError("merge_token_lora: the base weights are stored in 8 bits, which would round the update away")
    for layer in layers:
        if layer.merged is not None:
            raise ValueError("merge_token_lora: the adapter is already merged")
        up = layer.lora_up[index].clone()
        weight = layer.base.weight
        weight.copy_((weight.float() + layer.scale * (up.float() @ layer.lora_down.float())).to(weight.dtype))
        layer.lora_up -= up
        layer.merged = index


def _wrapped(model: nn.Module) -> dict[str, TokenLoRALinear]:
    return {n: m for n, m in model.named_modules() if isinstance(m, TokenLoRALinear)}


def save_token_lora(model: nn.Module, path: str | Path) -> None:
    """Writes the adapter of `model` in the key schema of this module's docstring."""
    from safetensors.torch import save_file

    layers = _wrapped(model)
    if not layers:
        raise ValueError("save_token_lora: the model has no token LoRA layers")
    if any(layer.merged is not None for layer in layers.values()):
        raise ValueError("save_token_lora: the adapter is merged into the weights (save before merging)")
    tensors: dict[str, torch.Tensor] = {}
    for name, layer in layers.items():
        tensors[f"{name}.lora_down.weight"] = layer.lora_down.detach().contiguous().cpu()
        for i, kind in enumerate(TOKEN_TYPES[: layer.lora_up.shape[0]]):
            tensors[f"{name}.lora_up.{kind}.weight"] = layer.lora_up[i].detach().contiguous().cpu()
    first = next(iter(layers.values()))
    rank = first.lora_down.shape[0]
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "rank": str(rank),
        "alpha": str(first.scale * rank),
        "token_types": ",".join(TOKEN_TYPES[: first.lora_up.shape[0]]),
    }
    save_file(tensors, str(path), metadata=metadata)


def load_token_lora(model: nn.Module, path: str | Path) -> TokenRouter:
    """Wraps `model`'s linears named in the file at `path` and loads the adapter; returns the router.

    Each up matrix goes to the slot of the token type its key names (the metadata's order does not
    matter). Raises ValueError naming the file and the problem when it is not a whole token LoRA
    (see `read_token_lora`), holds NaN or infinite values, or does not fit `model`.
    """
    from safetensors import safe_open

    layout = read_token_lora(Path(path))
    if _wrapped(model):
        raise ValueError(f"{path}: the model already holds a token LoRA; load the adapter into a fresh model")
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if damaged := next((k for k, v in sorted(tensors.items()) if not torch.isfinite(v).all()), None):
        raise ValueError(f"{path}: {damaged} holds NaN or infinite values (a damaged or diverged adapter)")
    names = sorted(layout.layers)
    router = inject_token_lora(model, layout.rank, layout.alpha, names, len(TOKEN_TYPES))
    layers = _wrapped(model)
    if sorted(layers) != names:
        raise ValueError(f"{path}: layers {sorted(set(names) - set(layers))[:3]} are not in the model")
    with torch.no_grad():
        for name, layer in layers.items():
            down = tensors[f"{name}.lora_down.weight"]
            up_shape = tuple(tensors[f"{name}.lora_up.{TOKEN_TYPES[0]}.weight"].shape)
            if down.shape != layer.lora_down.shape or up_shape != tuple(layer.lora_up.shape[1:]):
                raise ValueError(f"{path}: {name} has shapes {tuple(down.shape)} (down), {up_shape} (up); the model "
                                 f"needs {tuple(layer.lora_down.shape)}, {tuple(layer.lora_up.shape[1:])}")
            layer.lora_down.copy_(down)
            for i, kind in enumerate(TOKEN_TYPES):
                layer.lora_up[i].copy_(tensors[f"{name}.lora_up.{kind}.weight"])
    return router
