"""`huracan champion rollback SYMBOL`: put a coin's previous champion (or a named earlier one) back."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from huracan_core.archive import Storage
from huracan_core.cli.common import ArchiveOpt, ConfigOpt, config_from, console, err_console, friendly_errors

champion_app = typer.Typer(help="Champions: move the pointers Hamilton trades with.", no_args_is_help=True)

DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL (SQLAlchemy; overrides general.database).")]
ToOpt = Annotated[
    str | None,
    typer.Option("--to", help="Model id to restore (YYYYMMDD_HHMMSSZ); default: the champion's previous model."),
]
ReasonOpt = Annotated[
    str, typer.Option("--reason", help="Why; recorded in the pointer, promotions.json and the database.")
]


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False)


@champion_app.command("rollback")
@friendly_errors
def rollback_command(
    symbol: Annotated[str, typer.Argument(help="Coin, e.g. BTCUSDT.")],
    to: ToOpt = None,
    reason: ReasonOpt = "manual rollback",
    archive: ArchiveOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Re-point the coin's champion to its previous model (or --to MODEL_ID) after verifying its bundle.

    The move is recorded (promoted_by rollback) in the pointer, champion/promotions.json and the database;
    the roster is rewritten. Nothing changes when the target is missing or does not verify (exit 1).
    """
    from huracan_core.mechanic.rollback import rollback

    cfg = config_from(config, extra={"general.archive": archive, "general.database": db})
    try:
        result = rollback(
            Storage(cfg.general.archive), cfg.general.database, symbol.strip().upper(), to_model_id=to,
            reason=reason, at=datetime.now(UTC).replace(microsecond=0), gates=cfg.engine.gates,
        )  # fmt: skip
    except ValueError as exc:  # a malformed symbol or an empty reason: the user's input
        err_console.print(f"[bold red]Error:[/] {exc}", highlight=False)
        sys.exit(2)
    _say(
        f"{result['symbol']}: champion rolled back from {result['from_model_id']} to {result['to_model_id']} "
        f"({result['path']}, bundle verified)."
    )
    _say(f"Reason: {result['reason']}")
    if result["trade_ok"]:
        _say("Roster: trade_ok, Hamilton trades it from its next bar.")
    else:
        _say(f"Roster: NOT trade_ok ({result['roster_reason']}); Hamilton will not trade this coin.")
    for note in result["notes"]:
        _say(f"Note: {note}")
