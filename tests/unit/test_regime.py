"""Regimes per bar: the right label on shaped markets, plausible shares on real candles, causal, timeframe-free."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # until pyproject's pytest `pythonpath = ["."]` covers the whole suite
    sys.path.insert(0, _ROOT)

from huracan_core.regime import (  # noqa: E402
    REGIME_DTYPE,
    REGIMES,
    RegimeParams,
    classify_regimes,
    regime_inputs,
    regime_shares,
)
from tests.stubs.price_paths import (  # noqa: E402
    candles_from_log_mid,
    flat_noise,
    random_walk,
    resample,
    seasonal_volume,
)

DAY_5M = 288
REAL_CANDLES = sorted(
    Path(__file__).resolve().parents[3].joinpath("shared/data/candles/5m").glob("*.parquet")
)


def _switching_market(days: int, seed: int) -> pl.DataFrame:
    """5m candles whose drift and volatility change every half day, like a market between regimes."""
    rng = np.random.default_rng(seed)
    n = days * DAY_5M
    block = DAY_5M // 2
    drift = np.repeat(rng.choice([-4e-4, 0.0, 0.0, 4e-4], size=n // block + 1), block)[:n]
    vol = np.repeat(rng.choice([5e-4, 1e-3, 2e-3], size=n // block + 1), block)[:n]
    log_close = np.log(100.0) + np.cumsum(rng.normal(drift, vol))
    return candles_from_log_mid(log_close, seasonal_volume(n, seed + 1), seed=seed + 2)


def test_regimes_are_one_enum_value_per_bar_named_regime() -> None:
    candles = random_walk(1000, seed=1)
    regimes = classify_regimes(candles, "5m")
    assert regimes.name == "regime"
    assert regimes.dtype == REGIME_DTYPE
    assert regimes.len() == candles.height
    assert regimes.null_count() == 0
    assert REGIMES == ("TREND", "RANGE", "PANIC", "ILLIQUID")


def test_a_clean_uptrend_is_mostly_trend() -> None:
    candles = random_walk(8 * DAY_5M, seed=2, vol=1e-3, drift=4e-4)
    shares = regime_shares(classify_regimes(candles, "5m"))
    assert shares["TREND"] > 0.8


def test_a_flat_noisy_market_is_mostly_range() -> None:
    candles = flat_noise(8 * DAY_5M, seed=3)
    shares = regime_shares(classify_regimes(candles, "5m"))
    assert shares["RANGE"] > 0.8
    assert shares["TREND"] < 0.1


def test_a_crash_with_a_volatility_spike_is_marked_panic_at_the_crash() -> None:
    rng = np.random.default_rng(4)
    calm, crash, after = 8 * DAY_5M, 24, DAY_5M
    steps = np.concatenate(
        [rng.normal(0.0, 1e-3, calm), rng.normal(-80e-4, 5e-3, crash), rng.normal(0.0, 1e-3, after)]
    )
    n = steps.size
    candles = candles_from_log_mid(np.log(100.0) + np.cumsum(steps), seasonal_volume(n, 5), seed=6)
    regimes = classify_regimes(candles, "5m")
    at_crash = regimes[calm + 6 : calm + crash]
    assert (at_crash == "PANIC").mean() > 0.7
    assert (regimes[:calm] == "PANIC").mean() < 0.01
    assert (regimes[calm + crash + DAY_5M // 2 :] == "PANIC").mean() == 0.0


def test_a_very_thin_stretch_is_marked_illiquid_and_normal_volume_is_not() -> None:
    candles = random_walk(10 * DAY_5M, seed=7)
    thin = slice(8 * DAY_5M, 8 * DAY_5M + 72)  # six hours at a twentieth of the usual volume
    volume = candles["volume"].to_numpy().copy()
    volume[thin] /= 20.0
    regimes = classify_regimes(candles.with_columns(pl.Series("volume", volume)), "5m")
    assert (regimes[thin.start + 24 : thin.stop] == "ILLIQUID").mean() > 0.9
    assert (regimes[: thin.start] == "ILLIQUID").mean() < 0.01
    assert (regimes[thin.stop + 24 :] == "ILLIQUID").mean() < 0.01


def test_bars_with_no_volume_at_all_are_illiquid_even_during_warm_up() -> None:
    candles = random_walk(200, seed=8)
    volume = candles["volume"].to_numpy().copy()
    volume[100:150] = 0.0
    regimes = classify_regimes(candles.with_columns(pl.Series("volume", volume)), "5m")
    # Quote volume is averaged over two hours (24 bars): thin once the whole window is empty.
    assert (regimes[124:150] == "ILLIQUID").all()
    assert (regimes[:100] != "ILLIQUID").all()


def test_halving_the_trend_threshold_never_marks_fewer_trend_bars() -> None:
    candles = _switching_market(6, seed=9)
    strict = regime_shares(classify_regimes(candles, "5m", RegimeParams(trend_z=1.5)))
    loose = regime_shares(classify_regimes(candles, "5m", RegimeParams(trend_z=0.75)))
    assert loose["TREND"] > strict["TREND"]


@pytest.mark.parametrize("cut", [40, 700, 2000])
def test_regime_at_row_t_uses_only_bars_up_to_t(cut: int) -> None:
    candles = _switching_market(8, seed=10)
    full = classify_regimes(candles, "5m")
    truncated = classify_regimes(candles.head(cut), "5m")
    assert full[:cut].to_list() == truncated.to_list()
    # A violent, thin future must not change the past.
    rng = np.random.default_rng(0)
    tail = candles[cut:].with_columns(
        (pl.col("close") * rng.uniform(0.7, 1.3, candles.height - cut)).alias("close"),
        (pl.col("volume") * rng.uniform(0.0, 0.1, candles.height - cut)).alias("volume"),
    )
    noisy = classify_regimes(pl.concat([candles.head(cut), tail]), "5m")
    assert full[:cut].to_list() == noisy[:cut].to_list()


@pytest.mark.parametrize("cut", [40, 700, 2000])
def test_every_regime_input_at_row_t_uses_only_bars_up_to_t(cut: int) -> None:
    # The labels hide small leaks behind thresholds; the numbers behind them do not.
    candles = _switching_market(8, seed=15)
    full = regime_inputs(candles, "5m")
    rng = np.random.default_rng(1)
    tail = candles[cut:].with_columns(
        (pl.col(c) * rng.uniform(0.5, 1.5, candles.height - cut)).alias(c) for c in ("close", "volume")
    )
    noisy = regime_inputs(pl.concat([candles.head(cut), tail]), "5m")
    truncated = regime_inputs(candles.head(cut), "5m")
    for col in full.columns:
        for other in (noisy[col][:cut], truncated[col]):
            a, b = full[col][:cut].to_numpy(), other.to_numpy()
            assert np.array_equal(np.isnan(a), np.isnan(b)), col
            assert np.allclose(a[~np.isnan(a)], b[~np.isnan(b)]), col


def test_5m_and_1h_candles_of_one_market_give_comparable_shares() -> None:
    five = _switching_market(40, seed=11)
    hourly = resample(five, "1h")
    shares_5m = regime_shares(classify_regimes(five, "5m"))
    shares_1h = regime_shares(classify_regimes(hourly, "1h"))
    for name in REGIMES:
        assert abs(shares_5m[name] - shares_1h[name]) < 0.06, (name, shares_5m, shares_1h)
    assert shares_5m["TREND"] > 0.1 and shares_5m["RANGE"] > 0.1


def test_regime_shares_cover_every_regime_and_sum_to_one() -> None:
    shares = regime_shares(pl.Series("regime", ["TREND", "TREND", "RANGE", "PANIC"], dtype=REGIME_DTYPE))
    assert shares == {"TREND": 0.5, "RANGE": 0.25, "PANIC": 0.25, "ILLIQUID": 0.0}
    assert sum(regime_shares(classify_regimes(random_walk(500, seed=12), "5m")).values()) == pytest.approx(
        1.0
    )


@pytest.mark.skipif(not REAL_CANDLES, reason="real candles (../shared/data) are not present")
@pytest.mark.parametrize("path", REAL_CANDLES, ids=lambda p: p.stem)
def test_real_candles_get_plausible_regime_shares(path: Path) -> None:
    shares = regime_shares(classify_regimes(pl.read_parquet(path), "5m"))
    assert shares["ILLIQUID"] < 0.15, shares
    assert shares["PANIC"] < 0.15, shares
    assert shares["TREND"] > 0.10, shares
    assert shares["RANGE"] > 0.10, shares


def test_the_regimes_command_prints_the_share_of_each_regime_from_a_lake(tmp_path: Path) -> None:
    pytest.importorskip("huracan_core.market", reason="market sources not written yet")
    from huracan_core import market

    if not hasattr(market, "open_source"):
        pytest.skip("huracan_core.market.open_source not available yet")
    import typer
    from typer.testing import CliRunner

    from huracan_core.archive import Storage
    from huracan_core.archive.paths import lake_candles
    from huracan_core.cli.regimes import regimes_command

    Storage(tmp_path).write_parquet(lake_candles("5m", "TESTUSDT"), _switching_market(12, seed=13))
    app = typer.Typer()
    app.command("regimes")(regimes_command)
    app.command("unused")(lambda: None)  # two commands: typer then expects the command name
    result = CliRunner().invoke(
        app,
        [
            "regimes",
            "TESTUSDT",
            "--source",
            "lake",
            "--lake",
            str(tmp_path),
            "--timeframe",
            "5m",
            "--days",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output
    for name in REGIMES:
        assert name in result.output
    assert "bars: 1440" in result.output


def test_the_regime_report_covers_only_the_requested_days() -> None:
    from huracan_core.cli.regimes import regime_report

    report = regime_report(_switching_market(12, seed=14), "TESTUSDT", "5m", days=5)
    assert report["bars"] == 5 * DAY_5M
    assert sum(report["shares"].values()) == pytest.approx(1.0)
