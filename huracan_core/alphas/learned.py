"""The two learned alpha engines, behind the same interface as the rule engines: "xgboost" and "neural".

`fit(frame)` trains on the training window with the net edge after a round trip's costs as the target
(`net_edge_bps`: entry at the next bar's open, both fills at their bars' per-side `cost_bps`), keeps the
weights in the injected `WeightStore` (in production: the bundle's model.bin) and returns JSON-only
metadata. `signal` predicts that net edge: direction = sign(pred) beyond a noise floor, confidence =
|pred| / (|pred| + validation MAE), and edge_bps = pred plus the round trip `decide` will charge
(2 x cost_bps of the bar), because every engine reports its edge before costs: `decide` then finds
exactly the predicted net edge. Both need the frame's `cost_bps` column (build_research_frame adds it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import polars as pl
import torch

from huracan_core.alphas.base import (
    ALL_REGIMES,
    SIGNAL_SCHEMA,
    InMemoryWeightStore,
    LatestInputs,
    LearnedEngine,
    WeightStore,
    signal_row,
)
from huracan_core.alphas.calibration import COST_COLUMN, net_edge_bps
from huracan_core.models.embedding_cache import frame_embeddings
from huracan_core.models.encoder import CoinHeads, EncoderConfig, SharedEncoder
from huracan_core.models.train import TrainConfig, train_encoder, train_heads
from huracan_core.models.windows import Normaliser, feature_matrix, make_windows, usable_rows
from huracan_core.models.xgb import (
    XGBConfig,
    booster_from_tensor,
    booster_to_tensor,
    train_xgb,
    xgb_inputs,
    xgb_predict,
)

# Single-coin features every recipe build has; cross-coin and calendar ones are used when present.
CORE_INPUTS: tuple[str, ...] = (
    "ret_1",
    "ret_4",
    "ret_16",
    "ret_96",
    "rv_16",
    "rv_96",
    "atr_14",
    "ema_slope_12",
    "ema_slope_48",
    "rsi_14",
    "macd_hist",
    "bb_pos_20",
    "bb_width_20",
    "range_pos_48",
    "vol_z_48",
    "vwap_dist_48",
)
EXTRA_INPUTS: tuple[str, ...] = (
    "parkinson_16",
    "adx_14",
    "macd",
    "macd_signal",
    "vol_ratio_48",
    "tod_sin",
    "tod_cos",
    "dow_sin",
    "dow_cos",
    "beta_btc_96",
    "corr_btc_96",
    "rs_btc_96",
    "beta_eth_96",
    "corr_eth_96",
    "rs_eth_96",
)
WINDOW_BARS = 32  # encoder window; also the rows of history a signal row needs


@dataclass(frozen=True)
class FitInputs:
    """A learned engine's training set on one window (see `_LearnedMoveEngine.fit_inputs`)."""

    columns: list[str]
    y: np.ndarray  # [n] net edge label (bps), NaN where unknown
    fit_rows: np.ndarray  # [n] bool
    valid_rows: np.ndarray  # [n] bool, after the purge
    normaliser: Normaliser  # fitted on fit_rows only


def window_key(frame: pl.DataFrame) -> tuple[int, int, int]:
    """Identifies a training window: (first timestamp, last timestamp, rows)."""
    ts = frame["timestamp"]
    return (int(ts[0]), int(ts[-1]), frame.height) if frame.height else (0, 0, 0)


@dataclass(frozen=True)
class PretrainedHead:
    """One coin's neural head, trained beside other coins' heads (`fit_heads`) on one training window.

    `normaliser_mean` is the normaliser its inputs were scaled with and `horizon_bars` the horizon of the
    labels it learned: `fit` uses the head only when both are its own, so a head never meets inputs scaled
    another way, nor stands in for a head of another holding period.
    """

    tensors: Mapping[str, np.ndarray]  # "heads.*" of a one-coin CoinHeads
    normaliser_mean: np.ndarray
    best_epoch: int
    epochs_run: int
    batch_coins: int
    device: str
    horizon_bars: int


class _LearnedMoveEngine(LearnedEngine):
    """Shared fit/signal plumbing: split, train-only normaliser, weights out of the state."""

    regimes: ClassVar[frozenset[str]] = ALL_REGIMES
    inputs: ClassVar[tuple[str, ...]] = CORE_INPUTS
    optional_inputs: ClassVar[tuple[str, ...]] = EXTRA_INPUTS
    horizon_bars: ClassVar[int] = 4  # one hour of 15m bars (a coin's chosen horizon replaces it)
    lookback_bars: ClassVar[int] = WINDOW_BARS
    defaults: ClassVar[Mapping[str, float]] = {
        "noise_floor_bps": 2.0,  # |pred| at or below this is no opinion (direction 0)
        "valid_fraction": 0.2,  # last share of the training window used for early stopping + MAE
        "min_train_rows": 300.0,  # usable labelled rows needed to train at all
        "min_valid_rows": 50.0,  # validation rows needed to trust the MAE behind `confidence`
        "seed": 0.0,  # training seed
        "nthread": 1.0,  # CPU threads for training
    }

    def __init__(
        self,
        *,
        weight_store: WeightStore | None = None,
        encoder: SharedEncoder | None = None,
        columns: Sequence[str] | None = None,
        **params: float,
    ) -> None:
        # A default in-memory store keeps `cls()` working for the registry's all_engines().
        super().__init__(weight_store=weight_store or InMemoryWeightStore(), **params)
        # The nightly engine passes the shared encoder (trained on all coins) and the exact feature
        # columns it was trained on, so every coin's engine reads the same inputs in the same order.
        self.encoder = encoder
        self.fixed_columns = list(columns) if columns is not None else None
        if (
            encoder is not None
            and self.fixed_columns is not None
            and len(self.fixed_columns) != encoder.config.n_features
        ):
            raise ValueError(
                f"{self.name}: encoder expects {encoder.config.n_features} features, got {len(self.fixed_columns)} columns"
            )
        self.last_tensors: dict[str, torch.Tensor] = {}  # weights of the latest fit, for the bundle
        # The model built from the latest weights signalled (rebuilding it per call dominated the live path).
        self._model_cache: tuple[str, Mapping[str, np.ndarray], Any] | None = None

    # --- to implement -------------------------------------------------------------------------
    def _train(
        self,
        frame: pl.DataFrame,
        normaliser: Normaliser,
        y: np.ndarray,
        fit_rows: np.ndarray,
        valid_rows: np.ndarray,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """-> (tensors, JSON metadata). Must use only fit_rows (and valid_rows for early stopping)."""
        raise NotImplementedError

    def _predict(
        self,
        frame: pl.DataFrame,
        normaliser: Normaliser,
        tensors: Mapping[str, np.ndarray],
        state: Mapping[str, Any],
    ) -> np.ndarray:
        """[n] predicted forward move in bps, NaN where the row cannot be scored."""
        raise NotImplementedError

    # --- contract -----------------------------------------------------------------------------
    def _columns(self, frame: pl.DataFrame) -> list[str]:
        if self.fixed_columns is not None:
            return list(self.fixed_columns)
        present = [
            c
            for c in self.optional_inputs
            if c in frame.columns and frame.height and frame[c].null_count() < frame.height
        ]
        return [*self.inputs, *present]

    def fit_inputs(self, frame: pl.DataFrame) -> FitInputs | str:
        """What `fit` trains on (labels, fit/validation rows, the train-only normaliser), or why it cannot.

        Public so the nightly engine can prepare a batch of coins' training sets and train their neural
        heads together on exactly the rows each coin's `fit` would use.
        """
        missing_declared = list(self.missing_inputs(frame))
        columns = self._columns(frame)
        missing = [
            c
            for c in (*columns, COST_COLUMN)
            if c not in frame.columns or frame[c].null_count() == frame.height
        ]
        if missing_declared or missing:
            return f"missing inputs {missing_declared or missing}"
        y = net_edge_bps(frame, self.horizon_bars).cast(pl.Float64).fill_null(np.nan).to_numpy()
        usable = usable_rows(frame, columns) & np.isfinite(y)
        rows = np.flatnonzero(usable)
        if rows.size < self.params["min_train_rows"]:
            return f"{rows.size} usable labelled rows < min_train_rows {self.params['min_train_rows']:g}"
        cut = rows[int(rows.size * (1.0 - self.params["valid_fraction"])) - 1]  # last fit row
        index = np.arange(frame.height)
        fit_rows = usable & (index <= cut)
        # Purge: a fit row's label reads opens up to row + 1 + horizon; validation starts after that.
        valid_rows = usable & (index > cut + 1 + self.horizon_bars)
        return FitInputs(columns, y, fit_rows, valid_rows, Normaliser.fit(frame, columns, fit_rows))

    def fit(self, frame: pl.DataFrame) -> dict[str, Any]:
        state = self.base_state(frame)
        state["trained"] = False
        self.last_tensors = {}
        prepared = self.fit_inputs(frame)
        if isinstance(prepared, str):
            state["reason"] = prepared
            return state
        columns, y, fit_rows, valid_rows = (
            prepared.columns,
            prepared.y,
            prepared.fit_rows,
            prepared.valid_rows,
        )
        normaliser = prepared.normaliser
        tensors, meta = self._train(frame, normaliser, y, fit_rows, valid_rows)
        tensors = {**{k: v.numpy() for k, v in normaliser.to_tensors().items()}, **tensors}
        pred = self._predict(frame, normaliser, tensors, {**meta, "feature_columns": columns})
        scored = valid_rows & np.isfinite(pred)
        if scored.sum() < self.params["min_valid_rows"]:
            state["reason"] = (
                f"{int(scored.sum())} validation rows < min_valid_rows {self.params['min_valid_rows']:g}"
            )
            return state
        err = pred[scored] - y[scored]
        # Net labels can all be 0 (costs above every move): no correlation to measure, not a NaN warning.
        both_vary = pred[scored].std() > 0 and y[scored].std() > 0
        corr = np.corrcoef(pred[scored], y[scored])[0, 1] if both_vary else 0.0
        key = f"{self.name}/{state['window'].get('first_timestamp', 0)}-{state['window'].get('last_timestamp', 0)}"
        state.update(
            {
                "trained": True,
                "weights_ref": self.weight_store.put(key, tensors),
                "feature_columns": columns,
                "n_fit": int(fit_rows.sum()),
                "n_valid": int(scored.sum()),
                "valid_mae_bps": float(np.abs(err).mean()),
                "valid_rmse_bps": float(np.sqrt((err**2).mean())),
                "valid_corr": float(corr) if np.isfinite(corr) else 0.0,
                **meta,
            }
        )
        self.last_tensors = {f"{self.name}.{k}": torch.from_numpy(np.array(v)) for k, v in tensors.items()}
        return state

    def bundle_tensors(self, state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The state's weights as tensors named "<engine>.<tensor>", ready for `save_bundle`."""
        return {
            f"{self.name}.{k}": torch.from_numpy(np.array(v)) for k, v in self.load_weights(state).items()
        }

    def _model(self, state: Mapping[str, Any], tensors: Mapping[str, np.ndarray], build: Any) -> Any:
        """`build()`, reused while `state` points at the same weights (same mapping or the same buffers).

        The cache keeps the tensors it was built from alive, so an equal buffer address is the same buffer.
        """
        ref = state.get("weights_ref")
        if ref is None:  # during fit: weights not stored yet, nothing to reuse
            return build()
        cached = self._model_cache
        if cached is not None and cached[0] == ref and _same_buffers(cached[1], tensors):
            return cached[2]
        model = build()
        self._model_cache = (str(ref), tensors, model)
        return model

    def signal(self, frame: pl.DataFrame, state: Mapping[str, Any]) -> pl.DataFrame:
        arrays = self._signal_arrays(frame, state)
        if arrays is None:
            return self.abstain(frame.height)
        direction, edge, confidence = arrays
        return pl.DataFrame(
            {
                "direction": direction,
                "edge_bps": edge,
                "confidence": confidence,
                "horizon_bars": np.full(frame.height, self.horizon_bars, dtype=np.int32),
            },
            schema=SIGNAL_SCHEMA,
        )

    def latest_row(self, inputs: LatestInputs, state: Mapping[str, Any]) -> dict[str, Any]:
        """`signal`'s last row from the newest `lookback_bars` rows: one window of numpy, no frame."""
        self.check_state(state, required=("trained",))
        rows = self.lookback_bars
        columns = list(state["feature_columns"]) if state["trained"] else []
        if not state["trained"] or inputs.missing((*columns, COST_COLUMN), rows):
            return signal_row(np.zeros(1, np.int8), np.zeros(1), np.zeros(1), self.horizon_bars)
        tensors = self.load_weights(state)
        normaliser = Normaliser.from_tensors(tensors, columns)
        values = inputs.matrix(tuple(columns), rows)  # [rows, F], NaN = missing
        usable = np.isfinite(values).all(axis=1)  # `usable_rows`: finite features, out of warm-up
        if "warmup" in inputs:
            usable &= inputs.values("warmup", rows) == 0.0  # null (NaN) counts as warm-up
        pred = self._predict_last(values, usable, normaliser, tensors, state)
        round_trip = 2.0 * inputs.values(COST_COLUMN, 1)
        return signal_row(*self._from_prediction(pred, round_trip, state), self.horizon_bars)

    def _signal_arrays(
        self, frame: pl.DataFrame, state: Mapping[str, Any]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(direction, edge_bps, confidence) per row, or None when the engine abstains."""
        self.check_state(state, required=("trained",))
        if not state["trained"]:
            return None
        columns = list(state["feature_columns"])
        if any(
            c not in frame.columns or frame[c].null_count() == frame.height for c in (*columns, COST_COLUMN)
        ):
            return None
        tensors = self.load_weights(state)
        normaliser = Normaliser.from_tensors(tensors, columns)
        pred = self._predict(frame, normaliser, tensors, state)
        round_trip = 2.0 * frame[COST_COLUMN].cast(pl.Float64).fill_null(np.nan).to_numpy()
        return self._from_prediction(pred, round_trip, state)

    def _from_prediction(
        self, pred: np.ndarray, round_trip: np.ndarray, state: Mapping[str, Any]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(direction, edge_bps, confidence) from predicted net edges and the round trip `decide` charges."""
        floor = float(self.params["noise_floor_bps"])
        on = np.isfinite(pred) & (np.abs(pred) > floor)
        on = on & np.isfinite(round_trip)  # no cost estimate, no opinion: the edge could not be stated
        pred = np.where(on, pred, 0.0)
        direction = np.sign(pred).astype(np.int8)
        confidence = np.abs(pred) / (np.abs(pred) + max(float(state["valid_mae_bps"]), 1e-9))
        edge = np.where(on, pred + direction * np.nan_to_num(round_trip), 0.0)
        return direction, edge.astype(np.float64), np.where(on, confidence, 0.0)

    def _predict_last(
        self,
        values: np.ndarray,
        usable: np.ndarray,
        normaliser: Normaliser,
        tensors: Mapping[str, np.ndarray],
        state: Mapping[str, Any],
    ) -> np.ndarray:
        """[1] `_predict`'s value for the last of `values` ([rows, F] raw features, `usable` [rows])."""
        raise NotImplementedError


class NeuralEngine(_LearnedMoveEngine):
    """Shared-encoder architecture on one coin: windows of features -> conv encoder -> head -> bps."""

    name: ClassVar[str] = "neural"
    description: ClassVar[str] = (
        "dilated causal conv encoder + head predicting the net edge after costs (bps)"
    )
    defaults: ClassVar[Mapping[str, float]] = {
        "epochs": 4.0,  # max passes (early stopping on the validation rows)
        "hidden": 32.0,  # conv channels
        "embed_dim": 16.0,  # embedding size
        "head_hidden": 16.0,  # head hidden units
    }

    def __init__(
        self,
        *,
        pretrained_heads: Mapping[tuple[int, int, int], PretrainedHead] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Heads the nightly engine trained for this coin beside the other coins of its batch, one per
        # training window (`window_key`); `fit` on such a window takes it instead of training alone.
        self.pretrained_heads = dict(pretrained_heads or {})

    def _encoder_config(self, n_features: int) -> EncoderConfig:
        return EncoderConfig(
            n_features=n_features,
            window=WINDOW_BARS,
            hidden=int(self.params["hidden"]),
            embed_dim=int(self.params["embed_dim"]),
            head_hidden=int(self.params["head_hidden"]),
        )

    def _train(
        self,
        frame: pl.DataFrame,
        normaliser: Normaliser,
        y: np.ndarray,
        fit_rows: np.ndarray,
        valid_rows: np.ndarray,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if self.encoder is not None:
            return self._train_head_on_shared(frame, normaliser, y, fit_rows, valid_rows)
        enc_cfg = self._encoder_config(len(normaliser.columns))
        fit = make_windows(frame, normaliser, WINDOW_BARS, rows=fit_rows, targets=y)
        valid = make_windows(frame, normaliser, WINDOW_BARS, rows=valid_rows, targets=y)
        cfg = TrainConfig(
            encoder=enc_cfg, epochs=int(self.params["epochs"]), threads=int(self.params["nthread"])
        )
        trained = train_encoder(
            {"COIN": (fit.X, fit.y)}, {"COIN": (valid.X, valid.y)}, cfg, "cpu", int(self.params["seed"])
        )
        tensors = {k: v.numpy() for k, v in trained.state_dict().items()}
        meta = {
            "encoder_config": enc_cfg.to_dict(),
            "best_epoch": trained.best_epoch,
            "epochs_run": len(trained.history),
        }
        return tensors, meta

    def _train_head_on_shared(
        self,
        frame: pl.DataFrame,
        normaliser: Normaliser,
        y: np.ndarray,
        fit_rows: np.ndarray,
        valid_rows: np.ndarray,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """This coin's head on the frozen shared encoder: embeddings once, then a small head fit."""
        encoder = self.encoder
        assert encoder is not None
        enc_cfg = encoder.config
        encoder_tensors = {f"encoder.{k}": v.detach().cpu().numpy() for k, v in encoder.state_dict().items()}
        ready = self.pretrained_heads.get(window_key(frame))
        if (
            ready is not None
            and ready.horizon_bars == self.horizon_bars
            and np.array_equal(ready.normaliser_mean, normaliser.mean)
        ):
            meta = {
                "encoder_config": enc_cfg.to_dict(),
                "shared_encoder": True,
                "best_epoch": ready.best_epoch,
                "epochs_run": ready.epochs_run,
                "heads_batch_coins": ready.batch_coins,
                "device": ready.device,
            }
            return {**encoder_tensors, **{k: np.asarray(v) for k, v in ready.tensors.items()}}, meta
        fit = make_windows(frame, normaliser, enc_cfg.window, rows=fit_rows, targets=y)
        valid = make_windows(frame, normaliser, enc_cfg.window, rows=valid_rows, targets=y)
        cfg = TrainConfig(encoder=enc_cfg, threads=int(self.params["nthread"]))
        trained = train_heads(
            encoder,
            {"COIN": (fit.X, fit.y)},
            {"COIN": (valid.X, valid.y)},
            cfg,
            "cpu",
            int(self.params["seed"]),
        )
        tensors = {
            **encoder_tensors,
            **{f"heads.{k}": v.detach().cpu().numpy() for k, v in trained.heads.state_dict().items()},
        }
        meta = {
            "encoder_config": enc_cfg.to_dict(),
            "shared_encoder": True,
            "best_epoch": trained.best_epoch,
            "epochs_run": len(trained.history),
            "heads_batch_coins": 1,
            "device": "cpu",
        }
        return tensors, meta

    def _predict(
        self,
        frame: pl.DataFrame,
        normaliser: Normaliser,
        tensors: Mapping[str, np.ndarray],
        state: Mapping[str, Any],
    ) -> np.ndarray:
        encoder, heads = self._networks(state, tensors)
        rows, emb = frame_embeddings(encoder, frame, normaliser, encoder.config.window, "cpu")
        out = np.full(frame.height, np.nan)
        if rows.size:
            with torch.inference_mode():
                coin = torch.zeros(rows.size, dtype=torch.long)
                out[rows] = heads(torch.from_numpy(np.array(emb)), coin).numpy()
        return out

    def _predict_last(
        self,
        values: np.ndarray,
        usable: np.ndarray,
        normaliser: Normaliser,
        tensors: Mapping[str, np.ndarray],
        state: Mapping[str, Any],
    ) -> np.ndarray:
        encoder, heads = self._networks(state, tensors)
        window = encoder.config.window
        if values.shape[0] < window or not usable[-window:].all():
            return np.full(1, np.nan)
        z = torch.from_numpy(normaliser.apply(values[-window:])[None])  # [1, W, F]
        with torch.inference_mode():
            pred = heads(encoder(z), torch.zeros(1, dtype=torch.long))  # [1]
        return pred.numpy().astype(np.float64)

    def _networks(
        self, state: Mapping[str, Any], tensors: Mapping[str, np.ndarray]
    ) -> tuple[SharedEncoder, CoinHeads]:
        """Encoder and head of `state`'s weights in eval mode, built once per weights (see `_model`)."""

        def build() -> tuple[SharedEncoder, CoinHeads]:
            enc_cfg = EncoderConfig.from_dict(dict(state["encoder_config"]))
            encoder = SharedEncoder(enc_cfg)
            encoder.load_state_dict(_sub(tensors, "encoder."))
            heads = CoinHeads(1, enc_cfg.embed_dim, enc_cfg.head_hidden)
            heads.load_state_dict(_sub(tensors, "heads."))
            return encoder.eval(), heads.eval()

        return self._model(state, tensors, build)


class XGBoostEngine(_LearnedMoveEngine):
    """Per-coin gradient-boosted trees on the bar's normalised features (+ embeddings of a shared encoder).

    Pass `encoder` (a trained SharedEncoder whose n_features matches this engine's columns) to add
    its embeddings as inputs; its weights are then stored with the booster so `signal` needs nothing else.
    """

    name: ClassVar[str] = "xgboost"
    description: ClassVar[str] = "per-coin XGBoost regression of the net edge after costs (bps) on features"
    defaults: ClassVar[Mapping[str, float]] = {
        "n_rounds": 300.0,  # max boosting rounds (early stopping on the validation rows)
        "max_depth": 4.0,  # tree depth
    }

    def _inputs(
        self, frame: pl.DataFrame, normaliser: Normaliser, encoder: SharedEncoder | None, window: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """-> ([n, k] inputs, [n] bool scoreable)."""
        raw = feature_matrix(frame, normaliser.columns)
        z = normaliser.apply(raw)  # [n, F]
        ok = usable_rows(frame, normaliser.columns, raw)
        if encoder is None:
            return xgb_inputs(np.nan_to_num(z)), ok
        rows, embedded = frame_embeddings(encoder, frame, normaliser, window, "cpu")
        emb = np.zeros((frame.height, encoder.config.embed_dim), dtype=np.float32)
        emb[rows] = embedded
        ok = np.zeros(frame.height, dtype=bool)
        ok[rows] = True
        return xgb_inputs(np.nan_to_num(z), emb), ok

    def _train(
        self,
        frame: pl.DataFrame,
        normaliser: Normaliser,
        y: np.ndarray,
        fit_rows: np.ndarray,
        valid_rows: np.ndarray,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        encoder = self.encoder
        if encoder is not None and encoder.config.n_features != len(normaliser.columns):
            raise ValueError(
                f"encoder expects {encoder.config.n_features} features but this frame gives "
                f"{len(normaliser.columns)} ({list(normaliser.columns)})"
            )
        window = encoder.config.window if encoder is not None else 1
        X, ok = self._inputs(frame, normaliser, encoder, window)
        fit, valid = fit_rows & ok, valid_rows & ok
        cfg = XGBConfig(n_rounds=int(self.params["n_rounds"]), max_depth=int(self.params["max_depth"]))
        model = train_xgb(
            X[fit],
            y[fit],
            X[valid],
            y[valid],
            cfg,
            seed=int(self.params["seed"]),
            nthread=int(self.params["nthread"]),
        )
        tensors = {"xgboost.json": booster_to_tensor(model.booster).numpy()}
        meta: dict[str, Any] = {"xgboost": model.meta(), "uses_embeddings": encoder is not None}
        if encoder is not None:
            tensors.update(
                {f"encoder.{k}": v.detach().cpu().numpy() for k, v in encoder.state_dict().items()}
            )
            meta["encoder_config"] = encoder.config.to_dict()
        return tensors, meta

    def _predict(
        self,
        frame: pl.DataFrame,
        normaliser: Normaliser,
        tensors: Mapping[str, np.ndarray],
        state: Mapping[str, Any],
    ) -> np.ndarray:
        encoder, booster = self._booster(state, tensors)
        window = encoder.config.window if encoder is not None else 1
        X, ok = self._inputs(frame, normaliser, encoder, window)
        out = np.full(frame.height, np.nan)
        if ok.any():
            out[ok] = xgb_predict(booster, X[ok], int(self.params["nthread"]))
        return out

    def _predict_last(
        self,
        values: np.ndarray,
        usable: np.ndarray,
        normaliser: Normaliser,
        tensors: Mapping[str, np.ndarray],
        state: Mapping[str, Any],
    ) -> np.ndarray:
        encoder, booster = self._booster(state, tensors)
        window = encoder.config.window if encoder is not None else 1
        if values.shape[0] < window or not usable[-window:].all():
            return np.full(1, np.nan)
        z = normaliser.apply(values[-window:])  # [window, F]
        if encoder is None:
            X = xgb_inputs(np.nan_to_num(z))
        else:
            with torch.inference_mode():
                emb = encoder(torch.from_numpy(z[None])).numpy()  # [1, D]
            X = xgb_inputs(np.nan_to_num(z[-1:]), emb)
        # `inplace_predict` skips the DMatrix `xgb_predict` builds: the same predictor, the same values.
        return booster.inplace_predict(X).astype(np.float64)

    def _booster(
        self, state: Mapping[str, Any], tensors: Mapping[str, np.ndarray]
    ) -> tuple[SharedEncoder | None, Any]:
        """(encoder in eval mode or None, booster) of `state`'s weights, built once per weights."""

        def build() -> tuple[SharedEncoder | None, Any]:
            encoder = None
            if state.get("uses_embeddings"):
                encoder = SharedEncoder(EncoderConfig.from_dict(dict(state["encoder_config"])))
                encoder.load_state_dict(_sub(tensors, "encoder."))
                encoder.eval()
            booster = booster_from_tensor(np.asarray(tensors["xgboost.json"]))
            booster.set_param({"nthread": int(self.params["nthread"])})  # for inplace_predict
            return encoder, booster

        return self._model(state, tensors, build)


def _same_buffers(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> bool:
    """Same mapping, or the same keys viewing the same memory (a bundle store builds a new dict per get)."""
    if a is b:
        return True
    if a.keys() != b.keys():
        return False
    for key, x in a.items():
        x, y = np.asarray(x), np.asarray(b[key])
        if (
            x.shape != y.shape
            or x.dtype != y.dtype
            or x.__array_interface__["data"] != y.__array_interface__["data"]
        ):
            return False
    return True


def _sub(tensors: Mapping[str, np.ndarray], prefix: str) -> dict[str, torch.Tensor]:
    return {
        k[len(prefix) :]: torch.from_numpy(np.array(v)) for k, v in tensors.items() if k.startswith(prefix)
    }


LEARNED_ENGINES: tuple[type[LearnedEngine], ...] = (XGBoostEngine, NeuralEngine)
