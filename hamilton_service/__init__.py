"""Hamilton, the long-lived trading service (paper by default, live through ccxt when asked).

A thin process entry: `python -m hamilton_service` runs `huracan hamilton run` (see
`huracan_core/hamilton/`, where the loop, brokers, guardrails and journal live).
"""
