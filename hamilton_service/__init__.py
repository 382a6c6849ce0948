"""Hamilton, the long-lived trading service (paper by default, live through ccxt when asked).

Not built yet: its loop, brokers, guardrails and state recovery arrive with the Hamilton issue. Nothing in
this package trades today.
"""
