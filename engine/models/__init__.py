"""Diffusion models of the engine: token-specific LoRA and the Wan V2V pipeline (import torch)."""
