"""Huracan's library: everything the DAGs, the CLI, run_daily.py and Hamilton call.

It never imports Airflow, Telegram or `hamilton_service`; those are thin callers of this package.
"""

__version__ = "0.1.0"
