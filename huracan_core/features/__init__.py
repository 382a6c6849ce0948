"""Shared feature builder: one hashed FeatureRecipe -> polars features, identical in batch and incremental mode."""

from huracan_core.features.builder import build_features, build_features_many, features_lazy
from huracan_core.features.checks import (
    InsufficientHistoryError,
    history_message,
    require_history,
    validate_candles,
)
from huracan_core.features.incremental import build_latest, latest_tail
from huracan_core.features.leakage import Leak, find_lookahead
from huracan_core.features.recipe import DEFAULT_RECIPE, FeatureRecipe

__all__ = [
    "DEFAULT_RECIPE",
    "FeatureRecipe",
    "InsufficientHistoryError",
    "Leak",
    "build_features",
    "build_features_many",
    "build_latest",
    "features_lazy",
    "find_lookahead",
    "history_message",
    "latest_tail",
    "require_history",
    "validate_candles",
]
