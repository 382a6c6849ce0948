"""Cross-sectional features: where a coin stands in its universe at each bar.

`xs_rank_ret_16` is the coin's rank by 16-bar return among the universe's coins that have both closes
(this bar's and the one 16 bars earlier) at that timestamp, scaled to -1 (worst) .. +1 (best); ties get
the average rank. It reads only closes at or before the bar, so it is as causal as every other feature,
and it is null where fewer than `min_coins` coins can be ranked (a rank among three coins says little).
The `cross_sectional` engine reads it; the nightly engine and the backtest pass it to
`build_research_frame` as an extra column.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

RANK_COLUMN = "xs_rank_ret_16"
RANK_HORIZON = 16  # bars of the return that is ranked
MIN_COINS = 5  # coins that must be rankable at a bar for it to have a rank


def cross_sectional_ranks(
    candles: Mapping[str, pl.DataFrame],
    *,
    horizon: int = RANK_HORIZON,
    min_coins: int = MIN_COINS,
) -> dict[str, pl.DataFrame]:
    """{symbol: frame(timestamp, xs_rank_ret_16)} for every symbol of `candles`, aligned to its own bars.

    The return of a bar is close[t] / close[t - horizon] - 1 over the coin's own previous bars, as every
    single-coin feature counts them.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 bar, got {horizon}")
    if min_coins < 2:
        raise ValueError(f"min_coins must be >= 2 (a rank needs company), got {min_coins}")
    returns = [
        frame.select(
            pl.col("timestamp"),
            pl.lit(symbol).alias("symbol"),
            (pl.col("close") / pl.col("close").shift(horizon) - 1.0).alias("ret"),
        )
        for symbol, frame in candles.items()
    ]
    if not returns:
        return {}
    long = pl.concat(returns).filter(pl.col("ret").is_finite())
    ranked = long.with_columns(
        pl.len().over("timestamp").alias("coins"),
        pl.col("ret").rank(method="average").over("timestamp").alias("position"),
    ).with_columns(
        pl.when(pl.col("coins") >= min_coins)
        .then(2.0 * (pl.col("position") - 1.0) / (pl.col("coins") - 1.0) - 1.0)
        .otherwise(None)
        .alias(RANK_COLUMN)
    )
    out = {}
    for symbol, frame in candles.items():
        mine = ranked.filter(pl.col("symbol") == symbol).select("timestamp", RANK_COLUMN)
        out[symbol] = frame.select("timestamp").join(mine, on="timestamp", how="left", maintain_order="left")
    return out
