"""`huracan simulate`: the Engine, (optionally) the Mechanic and Hamilton over a past period (see loop.py)."""

from huracan_core.simulate.loop import SimulateRequest, SimulateResult, simulate

__all__ = ["SimulateRequest", "SimulateResult", "simulate"]
