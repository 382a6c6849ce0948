"""The lake on the real Binance candles kept beside the repository (skipped where they are absent)."""

from __future__ import annotations

import pytest

from huracan_core.config import DataGatesConfig
from huracan_core.market.gates import check_candles
from huracan_core.market.lake import LakeSource
from huracan_core.market.universe import resolve_universe
from tests.stubs.candles import real_candles_dir

# From data/SOURCES.md: rows and gaps (runs of missing 5-minute steps) per file.
KNOWN = {
    "ETHBTC": (5760, 0),
    "DASHBTC": (5758, 2),
    "XMRBTC": (5758, 2),
    "ZECBTC": (5757, 2),
    "ETCBTC": (5759, 0),
    "LTCBTC": (5760, 0),
    "TRXBTC": (5754, 6),
    "XLMBTC": (5760, 0),
    "ADABTC": (5720, 5),
    "NXTBTC": (5760, 0),
    "XRPUSDT": (1999, 0),
}


@pytest.fixture(scope="module")
def real_lake() -> LakeSource:
    folder = real_candles_dir()
    if folder is None:
        pytest.skip("real candles (../shared/data/candles/5m) are not on this machine")
    return LakeSource(folder.parent.parent)


def test_the_lake_reads_every_real_file_and_the_gates_find_the_known_gaps(real_lake: LakeSource) -> None:
    present = set(real_lake.symbols("5m"))
    checked = 0
    for symbol, (rows, gaps) in KNOWN.items():
        if symbol not in present:
            continue
        frame = real_lake.read(symbol, "5m")
        # The files hold 20 days (7 for XRPUSDT), under the default min_history_days of 30.
        gates = DataGatesConfig(min_median_quote_volume=0.0, min_history_days=6.0)
        result = check_candles(frame, symbol, "5m", gates)
        assert result.ok, f"{symbol}: {result.reason}"
        assert (result.stats["rows"], result.stats["gaps"]) == (rows, gaps), symbol
        checked += 1
    assert checked >= 5


def test_btc_quoted_pairs_trade_too_little_in_usd_terms_and_xrp_passes(real_lake: LakeSource) -> None:
    # ETHBTC's median bar trades ~14 BTC: below a 10,000 quote-volume floor meant for USDT pairs.
    gates = DataGatesConfig(min_history_days=6.0)  # the files hold 20 and 7 days
    eth = real_lake.summary("ETHBTC", "5m", gates)
    assert eth["gate_reason"] == "Low volume. Skipped."
    xrp = real_lake.summary("XRPUSDT", "5m", gates)
    assert xrp["gate_ok"] and xrp["first_bar"] == "2021-11-15 00:00 UTC"


def test_top_n_on_the_real_lake_keeps_only_usdt_pairs(real_lake: LakeSource) -> None:
    assert resolve_universe("top5", real_lake, "5m") == ["XRPUSDT"]
    assert resolve_universe("top2", real_lake, "5m", quote="BTC")[0] in KNOWN
