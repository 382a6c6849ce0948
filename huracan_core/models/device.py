"""Where training runs and how it is made repeatable: device choice and one seeding call.

Two CPU runs with the same seed give bit-identical weights; on a GPU results are close, not identical
(some CUDA kernels have no deterministic variant; we warn instead of failing).
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

_CHOICES = ("auto", "cpu", "cuda")


def pick_device(prefer: str = "auto") -> torch.device:
    """CUDA when available (prefer="auto"), else CPU; "cpu" / "cuda" force a device.

    Forcing "cuda" on a machine without one is an error that says so, not a silent CPU run.
    """
    choice = prefer.strip().lower()
    if choice not in _CHOICES:
        raise ValueError(f"device {prefer!r} is not one of {', '.join(_CHOICES)}")
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was asked for but torch sees no CUDA GPU; use 'auto' or 'cpu'")
        return torch.device("cuda")
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def seed_everything(seed: int, device: torch.device | None = None) -> None:
    """Seed python, numpy and torch (all devices); on CPU also ask torch for deterministic kernels.

    Call it at the start of every train function: dropout masks and initial weights then depend only
    on `seed`. Minibatch order uses its own `torch.Generator` seeded by the train function.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if device is None or device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
        # Deterministic mode also fills every new tensor with NaN (a debugging aid); that fill was a
        # tenth of a CPU training step and does not change results, so it is switched off.
        torch.utils.deterministic.fill_uninitialized_memory = False
    else:
        # cuBLAS needs this for deterministic matmuls; harmless if already set by the user.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
