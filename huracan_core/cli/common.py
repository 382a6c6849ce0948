"""Options and helpers shared by every `huracan` sub-command: --config, --source, --lake, error display."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from huracan_core.config import HuracanConfig, load_config
from huracan_core.exceptions import ConfigError, HuracanError

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="config.yaml to use (default: $HURACAN_CONFIG, then ./config.yaml)."),
]
SourceOpt = Annotated[
    str | None, typer.Option("--source", help="Candle source: ccxt | lake | synthetic (overrides data.source).")
]
LakeOpt = Annotated[
    str | None, typer.Option("--lake", help="Lake root holding candles/<timeframe>/<SYMBOL>.parquet.")
]
SymbolsOpt = Annotated[
    str | None, typer.Option("--symbols", help="Comma-separated symbols, topN (e.g. top20) or file:PATH.")
]
TimeframeOpt = Annotated[str | None, typer.Option("--timeframe", help="Candle timeframe, e.g. 15m.")]
ArchiveOpt = Annotated[str | None, typer.Option("--archive", help="Archive root (folder or s3://bucket/prefix).")]

F = TypeVar("F", bound=Callable[..., Any])


def config_from(
    config: Path | None,
    *,
    source: str | None = None,
    lake: str | None = None,
    symbols: str | None = None,
    timeframe: str | None = None,
    extra: dict[str, Any] | None = None,
) -> HuracanConfig:
    """Load the config with command-line flags applied on top (flags win over file and environment).

    The command's notifications (a rollback, a run's messages) follow it: telegram.* of this config.
    """
    from huracan_core.broadcaster import use_config

    overrides: dict[str, Any] = {
        "data.source": source,
        "data.lake_dir": lake,
        "general.symbols": symbols,
        "general.timeframe": timeframe,
        **(extra or {}),
    }
    loaded = load_config(config, overrides=overrides)
    use_config(loaded)
    return loaded


def friendly_errors(fn: F) -> F:
    """Show Huracan errors as one clear message and a non-zero exit code, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            err_console.print(f"[bold red]Configuration error:[/] {exc}", highlight=False)
            sys.exit(2)
        except HuracanError as exc:
            err_console.print(f"[bold red]Error ({type(exc).__name__}):[/] {exc}", highlight=False)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
