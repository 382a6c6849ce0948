"""The texts users get: one plain-text message per event, with the numbers they need and nothing missing."""

from __future__ import annotations

from huracan_core.broadcaster import messages

PROMOTION = {
    "model_id": "20260415_000000Z",
    "previous_model_id": "20260301_000000Z",
    "paired_test": {
        "bars": 4224,
        "against": "champion 20260301_000000Z",
        "challenger_net_pnl_pct": 6.41,
        "champion_net_pnl_pct": -2.13,
        "challenger_sharpe": 2.87,
        "champion_sharpe": -0.95,
        "challenger_trades": 212,
        "champion_trades": 198,
        "mean_diff_bps": 0.202,
        "lower_bound_bps": 0.071,
    },
    "deflated": {"deflated_sharpe": 0.93, "challengers": 3, "model_trials": 88},
    "champion_metrics": {"deflated_sharpe": 0.61},
}


def test_a_promotion_shows_both_models_on_the_same_paired_bars() -> None:
    assert messages.mechanic_promotion("BNBUSDT", PROMOTION).splitlines() == [
        "🔧 Mechanic promoted BNBUSDT 20260415_000000Z (was 20260301_000000Z).",
        "On 4224 bars unseen by both (champion 20260301_000000Z):",
        "  new: net +6.41%, Sharpe 2.87, 212 trades",
        "  old: net -2.13%, Sharpe -0.95, 198 trades",
        "  new minus old: +0.202 bps/bar, bootstrap lower bound +0.071 bps/bar",
        "Deflated Sharpe: new 0.93 (over 3 challenger(s) x 88 trials), old 0.61 (at its own evaluation).",
    ]


def test_missing_numbers_read_n_a_instead_of_breaking_the_message() -> None:
    text = messages.mechanic_promotion("BNBUSDT", {"model_id": "x", "previous_model_id": None})
    assert "(was no champion)" in text and "net n/a, Sharpe n/a" in text


def test_the_engine_says_what_it_saved_promoted_skipped_and_failed_and_how_long_it_took() -> None:
    text = messages.engine_finished(
        "20260115_020000Z",
        saved=18,
        promoted=["BTCUSDT", "SOLUSDT"],
        skipped=1,
        failed={"XRPUSDT": "TimeoutError: over 30 min"},
        seconds=843,
    )
    assert text == (
        "🏁 Engine 20260115_020000Z finished in 14 min 03 s: 18 models saved, 2 promoted (BTCUSDT, SOLUSDT), "
        "1 skipped, 1 failed.\n❌ XRPUSDT: TimeoutError: over 30 min"
    )
    progress = messages.engine_progress(
        "20260115_020000Z", 10, 20, {"BTCUSDT": {}, "ETHUSDT": {"error": "x"}}
    )
    assert (
        progress == "⏳ Engine 20260115_020000Z: 10 of 20 coins done (50%). Saved: BTCUSDT. Failed: ETHUSDT."
    )


def test_guardrail_stops_of_one_bar_are_one_message_tagged_with_the_mode() -> None:
    text = messages.guardrail_stops(
        "live", {"SOLUSDT": "DAILY_LOSS_CAP: lost 1.10%", "BTCUSDT": "DAILY_LOSS_CAP: lost 1.10%"}
    )
    assert text.splitlines() == [
        "⛔ [LIVE] guardrail stopped new entries:",
        "BTCUSDT: DAILY_LOSS_CAP: lost 1.10%",
        "SOLUSDT: DAILY_LOSS_CAP: lost 1.10%",
    ]
