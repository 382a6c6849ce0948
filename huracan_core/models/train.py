"""The train functions: shared encoder + heads jointly (`train_encoder`), heads alone on a frozen
encoder (`train_heads`), and inference (`embed`, `predict`).

Each train function owns device, seeding, minibatches, AdamW and early stopping on validation loss.
Inputs are already-split windows: nothing here sees test rows. Targets are forward moves in bps.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from huracan_core.models.device import pick_device, seed_everything
from huracan_core.models.encoder import SIZES, CoinHeads, EncoderConfig, SharedEncoder

CoinSet = tuple[np.ndarray, np.ndarray]  # (X [n, W, F] float32, y [n] float32 forward move in bps)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. Defaults train a 3-coin x 30-day x 15m run on a CPU in seconds."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)  # model sizes (see SIZES for presets)
    epochs: int = 4  # max passes over the training windows (encoder + heads)
    head_epochs: int = 20  # max passes when fitting heads alone (cheap: embeddings are computed once)
    batch_size: int = 256  # windows per optimiser step
    lr: float = 3e-3  # AdamW learning rate
    weight_decay: float = 1e-4  # AdamW decoupled weight decay
    patience: int = 2  # epochs without a better validation loss before stopping
    huber_delta: float = 1.0  # Huber transition, in units of each coin's training target std
    grad_clip: float = 1.0  # max global gradient norm: fat-tailed returns give rare huge gradients
    eval_batch_size: int = 2048  # windows per forward pass in evaluation and inference
    # torch CPU threads while training (restored after); None keeps the current count. 1 because the
    # default sizes gain little from more, and on a busy 2-core box 2 threads were 4x SLOWER than 1
    # (oversubscription); parallel coin batches each get their own process anyway.
    threads: int | None = 1

    def __post_init__(self) -> None:
        for name in ("epochs", "head_epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.patience < 0 or self.lr <= 0 or self.huber_delta <= 0:
            raise ValueError("TrainConfig: patience must be >= 0, lr and huber_delta > 0")


@dataclass
class TrainedEncoder:
    """Outcome of `train_encoder`: the modules (best validation epoch restored) and how training went."""

    encoder: SharedEncoder
    heads: CoinHeads
    symbols: tuple[str, ...]  # head row i belongs to symbols[i]
    config: TrainConfig
    history: list[dict[str, float]]  # per epoch: epoch, train_loss, valid_loss, seconds
    initial_loss: float  # validation loss before the first step (train loss without validation data)
    best_epoch: int  # 0 = the starting weights were never beaten
    windows_per_second: float  # training throughput (forward + backward), all epochs
    warm_started: list[str]  # state keys taken from init_state
    device: str

    def coin_index(self, symbol: str) -> int:
        try:
            return self.symbols.index(symbol)
        except ValueError:
            raise KeyError(f"symbol {symbol!r} has no head; trained on {list(self.symbols)}") from None

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Every weight as CPU tensors, keys "encoder.*" and "heads.*" (what the bundle stores)."""
        out = {f"encoder.{k}": v.detach().cpu().clone() for k, v in self.encoder.state_dict().items()}
        out.update({f"heads.{k}": v.detach().cpu().clone() for k, v in self.heads.state_dict().items()})
        return out


@dataclass
class TrainedHeads:
    """Outcome of `train_heads`."""

    heads: CoinHeads
    symbols: tuple[str, ...]
    history: list[dict[str, float]]
    initial_loss: float
    best_epoch: int


@contextlib.contextmanager
def torch_threads(cfg: TrainConfig) -> Iterator[None]:
    """Use cfg.threads torch CPU threads inside the block, then restore the previous count."""
    previous = torch.get_num_threads()
    if cfg.threads is not None:
        if cfg.threads < 1:
            raise ValueError(f"TrainConfig.threads must be >= 1, got {cfg.threads}")
        torch.set_num_threads(cfg.threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# --- data -----------------------------------------------------------------------------------------
def _stack(
    sets: Mapping[str, CoinSet], symbols: Sequence[str], what: str, ndim: int = 3
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Concatenate coins: X [N, W, F] (or embeddings [N, D] with ndim=2), y [N], coin [N] (index into `symbols`)."""
    shape = "[n,W,F]" if ndim == 3 else "[n,D]"
    xs, ys, cs = [], [], []
    for i, symbol in enumerate(symbols):
        if symbol not in sets:
            continue
        X, y = sets[symbol]
        if X.ndim != ndim or y.shape != (X.shape[0],):
            raise ValueError(
                f"{what} set of {symbol}: X {X.shape} and y {y.shape} do not match ({shape}, [n])"
            )
        if not np.isfinite(y).all():
            raise ValueError(f"{what} set of {symbol}: y has non-finite targets")
        xs.append(torch.as_tensor(X, dtype=torch.float32))
        ys.append(torch.as_tensor(y, dtype=torch.float32))
        cs.append(torch.full((X.shape[0],), i, dtype=torch.long))
    if not xs:
        raise ValueError(f"{what} sets hold none of the symbols {list(symbols)}")
    return torch.cat(xs), torch.cat(ys), torch.cat(cs)


def _target_scale(train_sets: Mapping[str, CoinSet], symbols: Sequence[str]) -> torch.Tensor:
    """[C] std (bps) of each coin's training targets; 1 when undefined."""
    scale = []
    for symbol in symbols:
        y = np.asarray(train_sets[symbol][1], dtype=np.float64)
        std = float(y.std()) if y.size > 1 else 0.0
        scale.append(std if std > 1e-9 else 1.0)
    return torch.tensor(scale, dtype=torch.float32)


# --- one loop for both stages -----------------------------------------------------------------------
def _huber(
    heads: CoinHeads, emb: torch.Tensor, y: torch.Tensor, coin: torch.Tensor, delta: float
) -> torch.Tensor:
    pred = heads.forward_scaled(emb, coin)  # [B], units of target_scale
    return F.huber_loss(pred, y / heads.target_scale[coin], delta=delta)


def _epochs(
    modules: Sequence[nn.Module],
    params: list[nn.Parameter],
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
    eval_loss: Callable[[], float],
    initial_loss: float,
    n_train: int,
    epochs: int,
    cfg: TrainConfig,
    seed: int,
    device: torch.device,
) -> tuple[list[dict[str, float]], int, float]:
    """Minibatch AdamW with early stopping; restores the best epoch's weights. -> history, best, windows/s."""
    optimiser = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(seed)  # minibatch order depends on the seed only
    best_loss = initial_loss
    best_state = [copy.deepcopy(m.state_dict()) for m in modules]
    best_epoch, stale, seen, busy = 0, 0, 0, 0.0
    history: list[dict[str, float]] = []
    for epoch in range(1, epochs + 1):
        for m in modules:
            m.train()
        started = time.perf_counter()
        order = torch.randperm(n_train, generator=generator).to(device)
        total, steps = 0.0, 0
        for start in range(0, n_train, cfg.batch_size):
            idx = order[start : start + cfg.batch_size]  # [B]
            loss = batch_loss(idx)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimiser.step()
            total += float(loss.detach())
            steps += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - started
        busy += elapsed
        seen += n_train
        valid = eval_loss()
        history.append(
            {"epoch": epoch, "train_loss": total / max(steps, 1), "valid_loss": valid, "seconds": elapsed}
        )
        if valid < best_loss - 1e-6:
            best_loss, best_epoch, stale = valid, epoch, 0
            best_state = [copy.deepcopy(m.state_dict()) for m in modules]
        else:
            stale += 1
            if stale > cfg.patience:
                break
    for m, state in zip(modules, best_state, strict=True):
        m.load_state_dict(state)
        m.eval()
    return history, best_epoch, seen / busy if busy > 0 else 0.0


def _warm_start(
    encoder: SharedEncoder,
    heads: CoinHeads,
    init_state: Mapping[str, torch.Tensor],
    heads_too: bool,
) -> list[str]:
    """Copy every init_state tensor whose name and shape match; heads only when the coins match."""
    loaded: list[str] = []
    for prefix, module, allowed in (("encoder.", encoder, True), ("heads.", heads, heads_too)):
        if not allowed:
            continue
        own = module.state_dict()
        take = {}
        for key, value in init_state.items():
            if key.startswith(prefix) and key[len(prefix) :] in own:
                name = key[len(prefix) :]
                if tuple(own[name].shape) == tuple(value.shape):
                    take[name] = value.to(own[name].dtype)
                    loaded.append(key)
        own.update(take)
        module.load_state_dict(own)
    return loaded


# --- stage 1: encoder + heads -----------------------------------------------------------------------
def train_encoder(
    train_sets: Mapping[str, CoinSet],
    valid_sets: Mapping[str, CoinSet] | None,
    cfg: TrainConfig,
    device: torch.device | str = "auto",
    seed: int = 0,
    init_state: Mapping[str, torch.Tensor] | None = None,
    init_symbols: Sequence[str] | None = None,
) -> TrainedEncoder:
    """Train the shared encoder and all coins' heads jointly on every coin of the run.

    `init_state` (a previous `TrainedEncoder.state_dict()`, "the last encoder") warm-starts every
    tensor whose shape matches; head tensors are taken only when `init_symbols` equals this run's
    symbols (head rows are per coin). Early stopping watches the validation loss (the training loss
    when `valid_sets` is empty); the best epoch's weights are returned.
    """
    device = pick_device(device) if isinstance(device, str) else device
    symbols = tuple(train_sets)
    if not symbols:
        raise ValueError("train_encoder needs at least one coin's training windows")
    X, y, coin = _stack(train_sets, symbols, "training")
    enc_cfg = cfg.encoder
    if tuple(X.shape[1:]) != (enc_cfg.window, enc_cfg.n_features):
        raise ValueError(
            f"training windows are [W={X.shape[1]}, F={X.shape[2]}] but the encoder config says "
            f"[W={enc_cfg.window}, F={enc_cfg.n_features}]"
        )
    with torch_threads(cfg):
        seed_everything(seed, device)
        encoder = SharedEncoder(enc_cfg).to(device)
        heads = CoinHeads(len(symbols), enc_cfg.embed_dim, enc_cfg.head_hidden).to(device)
        warm: list[str] = []
        if init_state is not None:
            same_coins = init_symbols is not None and tuple(init_symbols) == symbols
            warm = _warm_start(encoder, heads, init_state, heads_too=same_coins)
        with torch.no_grad():
            heads.target_scale.copy_(_target_scale(train_sets, symbols).to(device))
        X, y, coin = X.to(device), y.to(device), coin.to(device)
        if valid_sets and any(len(v[1]) for v in valid_sets.values() if v is not None):
            Xv, yv, cv = _stack({s: v for s, v in valid_sets.items() if len(v[1])}, symbols, "validation")
            Xv, yv, cv = Xv.to(device), yv.to(device), cv.to(device)
        else:
            Xv, yv, cv = X, y, coin

        def batch_loss(idx: torch.Tensor) -> torch.Tensor:
            return _huber(heads, encoder(X[idx]), y[idx], coin[idx], cfg.huber_delta)

        @torch.no_grad()
        def eval_loss() -> float:
            encoder.eval()
            heads.eval()
            total = 0.0
            for start in range(0, Xv.shape[0], cfg.eval_batch_size):
                sl = slice(start, start + cfg.eval_batch_size)
                loss = _huber(heads, encoder(Xv[sl]), yv[sl], cv[sl], cfg.huber_delta)
                total += float(loss) * yv[sl].shape[0]
            encoder.train()
            heads.train()
            return total / Xv.shape[0]

        initial = eval_loss()
        params = list(encoder.parameters()) + list(heads.parameters())
        history, best_epoch, wps = _epochs(
            [encoder, heads],
            params,
            batch_loss,
            eval_loss,
            initial,
            X.shape[0],
            cfg.epochs,
            cfg,
            seed,
            device,
        )
        return TrainedEncoder(
            encoder=encoder,
            heads=heads,
            symbols=symbols,
            config=cfg,
            history=history,
            initial_loss=initial,
            best_epoch=best_epoch,
            windows_per_second=wps,
            warm_started=warm,
            device=str(device),
        )


# --- stage 2: heads on a frozen encoder ---------------------------------------------------------------
def train_heads(
    encoder: SharedEncoder,
    train_sets: Mapping[str, CoinSet],
    valid_sets: Mapping[str, CoinSet] | None,
    cfg: TrainConfig,
    device: torch.device | str = "auto",
    seed: int = 0,
    init_heads: CoinHeads | None = None,
) -> TrainedHeads:
    """Fit (or fine-tune, from `init_heads` with the same coins) per-coin heads; the encoder is frozen.

    Embeddings are computed once, coin by coin, so this is cheap enough for the engine per batch and the
    mechanic; callers that already hold embeddings (and not the much larger windows) use `fit_heads`.
    """
    device = pick_device(device) if isinstance(device, str) else device
    if not train_sets:
        raise ValueError("train_heads needs at least one coin's training windows")
    encoder = encoder.to(device).eval()

    def embedded(sets: Mapping[str, CoinSet]) -> dict[str, CoinSet]:
        return {
            s: (embed(encoder, np.asarray(X), device, cfg.eval_batch_size), np.asarray(y))
            for s, (X, y) in sets.items()
        }

    with torch_threads(cfg):
        train_emb = embedded(train_sets)
        valid_emb = embedded(valid_sets) if valid_sets else None
    return fit_heads(
        train_emb,
        valid_emb,
        encoder.config.embed_dim,
        encoder.config.head_hidden,
        cfg,
        device,
        seed,
        init_heads,
    )


def fit_heads(
    train_sets: Mapping[str, CoinSet],
    valid_sets: Mapping[str, CoinSet] | None,
    embed_dim: int,
    head_hidden: int,
    cfg: TrainConfig,
    device: torch.device | str = "auto",
    seed: int = 0,
    init_heads: CoinHeads | None = None,
) -> TrainedHeads:
    """Per-coin heads on embeddings: `train_sets` maps symbol -> (E [n, D] float32, y [n] bps).

    All coins train in one loop, their heads stacked in one `CoinHeads` (on a GPU a batch of 8-16 coins is
    one set of kernels per step); each coin's head sees only its own rows, early stopping watches the
    summed validation loss.
    """
    device = pick_device(device) if isinstance(device, str) else device
    symbols = tuple(train_sets)
    if not symbols:
        raise ValueError("fit_heads needs at least one coin's training embeddings")
    E, y, coin = _stack(train_sets, symbols, "training", ndim=2)
    if E.shape[1] != embed_dim:
        raise ValueError(f"embeddings have {E.shape[1]} dimensions, the heads expect {embed_dim}")
    with torch_threads(cfg):
        seed_everything(seed, device)
        D, H = embed_dim, head_hidden
        heads = CoinHeads(len(symbols), D, H)
        if init_heads is not None:
            if (init_heads.n_coins, init_heads.embed_dim, init_heads.head_hidden) != (len(symbols), D, H):
                raise ValueError(
                    f"init_heads has shape (coins={init_heads.n_coins}, D={init_heads.embed_dim}, "
                    f"H={init_heads.head_hidden}); this run needs ({len(symbols)}, {D}, {H})"
                )
            heads.load_state_dict(init_heads.state_dict())
        heads = heads.to(device)
        with torch.no_grad():
            heads.target_scale.copy_(_target_scale(train_sets, symbols).to(device))
        E, y, coin = E.to(device), y.to(device), coin.to(device)
        if valid_sets and any(len(v[1]) for v in valid_sets.values()):
            Ev, yv, cv = _stack(
                {s: v for s, v in valid_sets.items() if len(v[1])}, symbols, "validation", ndim=2
            )
            Ev, yv, cv = Ev.to(device), yv.to(device), cv.to(device)
        else:
            Ev, yv, cv = E, y, coin

        def batch_loss(idx: torch.Tensor) -> torch.Tensor:
            return _huber(heads, E[idx], y[idx], coin[idx], cfg.huber_delta)

        @torch.no_grad()
        def eval_loss() -> float:
            heads.eval()
            loss = float(_huber(heads, Ev, yv, cv, cfg.huber_delta))
            heads.train()
            return loss

        initial = eval_loss()
        history, best_epoch, _ = _epochs(
            [heads],
            list(heads.parameters()),
            batch_loss,
            eval_loss,
            initial,
            E.shape[0],
            cfg.head_epochs,
            cfg,
            seed,
            device,
        )
        return TrainedHeads(
            heads=heads, symbols=symbols, history=history, initial_loss=initial, best_epoch=best_epoch
        )


# --- inference -------------------------------------------------------------------------------------
def _device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


@torch.no_grad()
def embed(
    encoder: SharedEncoder, X: np.ndarray, device: torch.device | str | None = None, batch_size: int = 2048
) -> np.ndarray:
    """Windows [n, W, F] -> embeddings [n, D] float32 (eval mode: no dropout)."""
    dev = (
        _device_of(encoder)
        if device is None
        else (pick_device(device) if isinstance(device, str) else device)
    )
    encoder = encoder.to(dev).eval()
    out = [
        encoder(torch.as_tensor(X[i : i + batch_size], dtype=torch.float32, device=dev)).cpu()
        for i in range(0, X.shape[0], batch_size)
    ]
    if not out:
        return np.zeros((0, encoder.config.embed_dim), dtype=np.float32)
    return torch.cat(out).numpy()


@torch.no_grad()
def predict(
    encoder: SharedEncoder,
    heads: CoinHeads,
    X: np.ndarray,
    coin_index: int | np.ndarray,
    device: torch.device | str | None = None,
    batch_size: int = 2048,
) -> np.ndarray:
    """Predicted forward move in bps, [n] float64, for windows X [n, W, F] of coin(s) `coin_index`."""
    dev = (
        _device_of(encoder)
        if device is None
        else (pick_device(device) if isinstance(device, str) else device)
    )
    heads = heads.to(dev).eval()
    coins = np.broadcast_to(np.asarray(coin_index, dtype=np.int64), (X.shape[0],))
    if coins.size and (coins.min() < 0 or coins.max() >= heads.n_coins):
        raise IndexError(f"coin_index outside 0..{heads.n_coins - 1}")
    E = torch.from_numpy(embed(encoder, X, dev, batch_size)).to(dev)  # [n, D]
    pred = heads(E, torch.as_tensor(np.ascontiguousarray(coins), device=dev))  # [n]
    return pred.cpu().numpy().astype(np.float64)


# --- throughput -------------------------------------------------------------------------------------
def encoder_throughput(
    device: torch.device | str | None = None,
    *,
    coins: int = 3,
    windows_per_coin: int = 2900,
    large_windows_per_coin: int | None = None,
    threads: int | None = None,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Training windows/second of `train_encoder` (one epoch) for each size in SIZES, on random windows.

    The default shape mirrors a 3-coin x 30-day x 15m run (about 2,900 windows per coin). The "large"
    size uses `large_windows_per_coin` (default: all on a GPU, 500 on a CPU, where it is ~20x slower).
    """
    dev = device if isinstance(device, torch.device) else pick_device(device or "auto")
    if large_windows_per_coin is None:
        large_windows_per_coin = windows_per_coin if dev.type == "cuda" else min(windows_per_coin, 500)
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {}
    for name, enc_cfg in SIZES.items():
        n = large_windows_per_coin if name == "large" else windows_per_coin
        sets = {
            f"C{i}USDT": (
                rng.standard_normal((n, enc_cfg.window, enc_cfg.n_features)).astype(np.float32),
                rng.standard_normal(n).astype(np.float32) * 30.0,
            )
            for i in range(coins)
        }
        cfg = TrainConfig(encoder=enc_cfg, epochs=1, patience=0, threads=threads)
        started = time.perf_counter()
        trained = train_encoder(sets, None, cfg, dev, seed)
        out[name] = {
            "windows_per_second": round(trained.windows_per_second, 1),
            "seconds_total": round(time.perf_counter() - started, 3),
            "windows": float(coins * n),
            "parameters": float(sum(p.numel() for p in trained.encoder.parameters())),
        }
    out["device"] = {"cuda": float(dev.type == "cuda"), "torch_threads": float(torch.get_num_threads())}
    return out
