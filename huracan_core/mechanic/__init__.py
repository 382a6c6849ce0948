"""The hourly Mechanic: challengers built from the recent market, promoted only on statistical evidence.

See the README's Mechanic section for the promotion and rollback rules exactly as implemented.
"""
