"""The engine's diffusion models: the token-specific LoRA and the Wan V2V pipeline (both import torch), and
the torch-free checks of model files (`model_files`)."""
