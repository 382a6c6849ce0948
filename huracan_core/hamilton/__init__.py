"""Hamilton: the trading component. It trades each coin's champion one closed bar at a time with the same
features, engines, combiner, `decide` and hold rule as the backtest, through a paper or a live broker,
behind guardrails, with its state journaled so a crash loses and duplicates nothing.

`hamilton_service/` is the thin process entry; everything here is plain library code.
"""
