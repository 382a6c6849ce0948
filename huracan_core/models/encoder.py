"""The shared temporal encoder and the batched per-coin heads (pure modules: no I/O, no globals).

SharedEncoder: windows [B, W, F] -> embeddings [B, D], a dilated causal Conv1d stack trained on all
coins together. CoinHeads: one small MLP per coin, parameters stacked [C, ...] so a batch mixing
8-16 coins runs in one pass. Heads output the predicted forward move in bps over the horizon.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class EncoderConfig:
    """Sizes of the encoder and heads. Defaults are the CPU size; a GPU run raises hidden/embed/window."""

    n_features: int = 31  # F: feature columns of the default recipe
    window: int = 32  # W: bars per window (8 hours of 15m bars)
    hidden: int = 32  # conv channels inside the stack
    embed_dim: int = 16  # D: embedding size handed to heads and to XGBoost
    kernel_size: int = 3  # taps per causal conv
    dilations: tuple[int, ...] = (1, 2, 4, 8)  # receptive field 1 + (3-1)*(1+2+4+8) = 31 bars ~ W
    dropout: float = 0.1  # on the pooled features before the embedding; off in eval mode
    head_hidden: int = 16  # H: hidden units of each coin's head

    def __post_init__(self) -> None:
        for name in ("n_features", "window", "hidden", "embed_dim", "kernel_size", "head_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"EncoderConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.dilations or min(self.dilations) < 1:
            raise ValueError(f"EncoderConfig.dilations must be positive, got {self.dilations}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"EncoderConfig.dropout must be in [0, 1), got {self.dropout}")

    @property
    def receptive_field(self) -> int:
        """Bars the last output position can see."""
        return 1 + (self.kernel_size - 1) * sum(self.dilations)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["dilations"] = list(self.dilations)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"EncoderConfig: unknown key(s) {unknown}")
        if "dilations" in known:
            known["dilations"] = tuple(int(d) for d in known["dilations"])
        return cls(**known)


class CausalBlock(nn.Module):
    """Residual block: dilated causal conv -> GELU, added to its input."""

    def __init__(self, channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.pad = (kernel_size - 1) * dilation  # left padding only: output t sees inputs <= t
        self.conv = nn.Conv1d(channels, channels, kernel_size, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [B, C, W]
        h = self.conv(F.pad(x, (self.pad, 0)))  # [B, C, W]
        return x + F.gelu(h)


class SharedEncoder(nn.Module):
    """[B, W, F] float32 windows -> [B, D] embeddings."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.inp = nn.Conv1d(config.n_features, config.hidden, kernel_size=1)  # per-bar projection
        self.blocks = nn.ModuleList(
            CausalBlock(config.hidden, config.kernel_size, d) for d in config.dilations
        )
        self.norm = nn.LayerNorm(2 * config.hidden)
        # One dropout on the pooled features: per-block dropout cost ~40% of a CPU step for no gain seen.
        self.drop = nn.Dropout(config.dropout)
        self.out = nn.Linear(2 * config.hidden, config.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        Fn = x.shape[2]  # x: [B, W, F]
        if Fn != self.config.n_features:
            raise ValueError(f"encoder expects {self.config.n_features} features, got {Fn}")
        h = self.inp(x.transpose(1, 2))  # [B, hidden, W]
        for block in self.blocks:
            h = block(h)  # [B, hidden, W]
        last = h[:, :, -1]  # [B, hidden]: the newest bar, seeing the whole receptive field
        mean = h.mean(dim=2)  # [B, hidden]: summary of the window
        z = self.norm(torch.cat([last, mean], dim=1))  # [B, 2*hidden]
        return self.out(self.drop(z))  # [B, D]


class CoinHeads(nn.Module):
    """One MLP head per coin (D -> H -> 1), parameters stacked over coins and applied with bmm.

    `target_scale` [C] (bps) is the std of each coin's training targets: heads learn targets in units
    of it (so one Huber delta suits every coin) and `forward` returns bps.
    """

    def __init__(self, n_coins: int, embed_dim: int, head_hidden: int) -> None:
        super().__init__()
        if n_coins < 1:
            raise ValueError(f"CoinHeads needs >= 1 coin, got {n_coins}")
        self.n_coins, self.embed_dim, self.head_hidden = n_coins, embed_dim, head_hidden
        bound1 = 1.0 / embed_dim**0.5
        bound2 = 1.0 / head_hidden**0.5
        self.w1 = nn.Parameter(torch.empty(n_coins, embed_dim, head_hidden).uniform_(-bound1, bound1))
        self.b1 = nn.Parameter(torch.zeros(n_coins, head_hidden))
        self.w2 = nn.Parameter(torch.empty(n_coins, head_hidden).uniform_(-bound2, bound2))
        self.b2 = nn.Parameter(torch.zeros(n_coins))
        self.register_buffer("target_scale", torch.ones(n_coins))

    def forward_scaled(self, emb: torch.Tensor, coin: torch.Tensor) -> torch.Tensor:
        """Prediction in units of the coin's target_scale: emb [B, D], coin [B] int64 -> [B]."""
        w1 = self.w1[coin]  # [B, D, H]
        h = torch.bmm(emb.unsqueeze(1), w1).squeeze(1) + self.b1[coin]  # [B, H]
        h = F.gelu(h)
        return (h * self.w2[coin]).sum(dim=1) + self.b2[coin]  # [B]

    def forward(self, emb: torch.Tensor, coin: torch.Tensor) -> torch.Tensor:
        """Predicted forward move in bps: emb [B, D], coin [B] -> [B]."""
        return self.forward_scaled(emb, coin) * self.target_scale[coin]

    def subset(self, coins: list[int]) -> CoinHeads:
        """A new CoinHeads holding only `coins` (in that order), e.g. one coin's head for its bundle."""
        out = CoinHeads(len(coins), self.embed_dim, self.head_hidden)
        index = torch.as_tensor(coins, dtype=torch.long)
        with torch.no_grad():
            for name in ("w1", "b1", "w2", "b2", "target_scale"):
                getattr(out, name).copy_(getattr(self, name)[index])
        return out


# Named sizes: "cpu" is the default (trains a 3-coin x 30-day run in seconds); "large" is for a GPU.
SIZES: dict[str, EncoderConfig] = {
    "cpu": EncoderConfig(),
    "large": EncoderConfig(window=64, hidden=128, embed_dim=64, dilations=(1, 2, 4, 8, 16), head_hidden=64),
}
