"""Compatibility names from the seed's quick start; the code lives in huracan_core."""
