"""Encoder training throughput (windows/second) for the CPU default and the large (GPU) size, plus
the wall time of a default 3-coin x 30-day x 15m `train_encoder` run (4 epochs, early stopping)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from huracan_core.models.train import TrainConfig, encoder_throughput, train_encoder


def default_run_seconds(threads: int | None, seed: int = 0) -> dict[str, float]:
    """Train the default config on 3 coins of ~2,900 random windows (80/20 train/valid split)."""
    cfg = TrainConfig(threads=threads)
    rng = np.random.default_rng(seed)
    n, n_train = 2900, 2320
    train, valid = {}, {}
    for i in range(3):
        X = rng.standard_normal((n, cfg.encoder.window, cfg.encoder.n_features)).astype(np.float32)
        y = (30.0 * rng.standard_normal(n)).astype(np.float32)
        train[f"C{i}USDT"], valid[f"C{i}USDT"] = (X[:n_train], y[:n_train]), (X[n_train:], y[n_train:])
    started = time.perf_counter()
    trained = train_encoder(train, valid, cfg, "auto", seed)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "epochs_run": float(len(trained.history)),
        "windows_per_second": round(trained.windows_per_second, 1),
    }


def run() -> dict[str, object]:
    default_threads = torch.get_num_threads()
    results: dict[str, object] = {
        "torch_default_threads": default_threads,
        "throughput_threads_1": encoder_throughput(threads=1),
        "default_run_threads_1": default_run_seconds(threads=1),
        f"default_run_threads_{default_threads}": default_run_seconds(threads=default_threads),
    }
    for key, value in results.items():
        print(f"{key}: {value}")
    return results


if __name__ == "__main__":
    run()
