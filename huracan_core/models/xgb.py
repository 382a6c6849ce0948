"""Per-coin XGBoost regressor on features (+ encoder embeddings) -> forward move in bps.

Saved as XGBoost's own JSON (`Booster.save_raw("json")`), stored in the bundle's model.bin as a
uint8 tensor: loading parses JSON and never runs code (no pickle anywhere).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import xgboost as xgb

XGB_TENSOR = "xgboost.json"  # tensor name of the booster's JSON inside model.bin


@dataclass(frozen=True)
class XGBConfig:
    """Booster settings; small trees and strong shrinkage because forward returns are mostly noise."""

    n_rounds: int = 300  # max boosting rounds
    early_stopping_rounds: int = 30  # rounds without a better validation RMSE before stopping
    max_depth: int = 4  # tree depth
    learning_rate: float = 0.05  # shrinkage per round
    subsample: float = 0.8  # rows per tree
    colsample_bytree: float = 0.8  # features per tree
    min_child_weight: float = 20.0  # min rows (hessian) per leaf: no leaf for a handful of bars
    reg_lambda: float = 1.0  # L2 on leaf weights
    clip_quantile: float = 0.01  # training targets clipped to [q, 1-q] quantiles (fat tails)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class XGBModel:
    """A trained booster and what it was trained with."""

    booster: xgb.Booster
    n_features: int
    best_iteration: int
    target_clip: tuple[float, float]  # bps bounds applied to training targets
    valid_rmse_bps: float | None

    def predict(self, X: np.ndarray, nthread: int = 1) -> np.ndarray:
        return xgb_predict(self.booster, X, nthread)

    def meta(self) -> dict[str, Any]:
        """JSON-able description for config.json / an engine state."""
        return {
            "n_features": self.n_features,
            "best_iteration": self.best_iteration,
            "target_clip": list(self.target_clip),
            "valid_rmse_bps": self.valid_rmse_bps,
        }


def _params(cfg: XGBConfig, seed: int, nthread: int) -> dict[str, Any]:
    return {
        "objective": "reg:squarederror",
        "tree_method": "hist",  # deterministic for a fixed seed and thread count
        "max_depth": cfg.max_depth,
        "eta": cfg.learning_rate,
        "subsample": cfg.subsample,
        "colsample_bytree": cfg.colsample_bytree,
        "min_child_weight": cfg.min_child_weight,
        "lambda": cfg.reg_lambda,
        "seed": seed,
        "nthread": nthread,
        "eval_metric": "rmse",
        "verbosity": 0,
    }


def _matrix(X: np.ndarray, y: np.ndarray | None, nthread: int) -> xgb.DMatrix:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"XGBoost inputs must be [n, k], got shape {X.shape}")
    return xgb.DMatrix(X, label=None if y is None else np.asarray(y, dtype=np.float32), nthread=nthread)


def train_xgb(
    X: np.ndarray,
    y: np.ndarray,
    X_valid: np.ndarray | None = None,
    y_valid: np.ndarray | None = None,
    cfg: XGBConfig | None = None,
    *,
    seed: int = 0,
    nthread: int = 1,
) -> XGBModel:
    """Fit on training rows (targets in bps); early stopping on the validation rows when given."""
    cfg = cfg or XGBConfig()
    y = np.asarray(y, dtype=np.float64)
    if X.shape[0] != y.shape[0] or X.shape[0] < 2:
        raise ValueError(f"train_xgb needs >= 2 rows with one target each, got X {X.shape}, y {y.shape}")
    lo, hi = np.quantile(y, [cfg.clip_quantile, 1.0 - cfg.clip_quantile])
    dtrain = _matrix(X, np.clip(y, lo, hi), nthread)
    evals, stopping = [], None
    if X_valid is not None and y_valid is not None and len(y_valid):
        evals = [(_matrix(X_valid, y_valid, nthread), "valid")]
        stopping = cfg.early_stopping_rounds
    booster = xgb.train(
        _params(cfg, seed, nthread),
        dtrain,
        num_boost_round=cfg.n_rounds,
        evals=evals,
        early_stopping_rounds=stopping,
        verbose_eval=False,
    )
    best = int(getattr(booster, "best_iteration", cfg.n_rounds - 1)) if stopping else cfg.n_rounds - 1
    if stopping:
        # Keep only the rounds up to the best one, so the saved model predicts what was validated.
        booster = booster[: best + 1]
    rmse = None
    if evals:
        pred = xgb_predict(booster, X_valid, nthread)  # type: ignore[arg-type]
        rmse = float(np.sqrt(np.mean((pred - np.asarray(y_valid, dtype=np.float64)) ** 2)))
    return XGBModel(booster, int(X.shape[1]), best, (float(lo), float(hi)), rmse)


def xgb_predict(booster: xgb.Booster, X: np.ndarray, nthread: int = 1) -> np.ndarray:
    """[n] float64 predicted forward move in bps."""
    if X.shape[0] == 0:
        return np.zeros(0, dtype=np.float64)
    return booster.predict(_matrix(X, None, nthread)).astype(np.float64)


def booster_to_json(booster: xgb.Booster) -> bytes:
    """The booster as XGBoost JSON bytes (the only way boosters are saved)."""
    return bytes(booster.save_raw("json"))


def booster_from_json(raw: bytes | bytearray) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    return booster


def booster_to_tensor(booster: xgb.Booster) -> torch.Tensor:
    """JSON bytes as a 1-D uint8 tensor, to sit in model.bin under XGB_TENSOR."""
    return torch.frombuffer(bytearray(booster_to_json(booster)), dtype=torch.uint8).clone()


def booster_from_tensor(tensor: torch.Tensor | np.ndarray) -> xgb.Booster:
    array = tensor.numpy() if isinstance(tensor, torch.Tensor) else np.asarray(tensor)
    if array.dtype != np.uint8 or array.ndim != 1:
        raise ValueError(f"an XGBoost tensor is 1-D uint8, got {array.dtype} {array.shape}")
    return booster_from_json(array.tobytes())


def xgb_inputs(features: np.ndarray, embeddings: np.ndarray | None = None) -> np.ndarray:
    """[n, F] features of the bar (+ [n, D] embeddings of the window ending there) -> [n, F(+D)]."""
    if embeddings is None:
        return np.asarray(features, dtype=np.float32)
    if embeddings.shape[0] != features.shape[0]:
        raise ValueError(f"{features.shape[0]} feature rows but {embeddings.shape[0]} embedding rows")
    return np.hstack([features, embeddings]).astype(np.float32)
