"""`huracan archive prune --older-than DAYS [--apply]`: delete old model folders nothing refers to."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import make_url

from huracan_core.archive import Storage
from huracan_core.archive.prune import prune_archive
from huracan_core.cli.common import ArchiveOpt, ConfigOpt, config_from, console, friendly_errors

archive_app = typer.Typer(help="The archive: housekeeping.", no_args_is_help=True)

DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL (SQLAlchemy; overrides general.database).")]


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False)


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover - the loop always returns


def database_champions(url: str) -> tuple[set[tuple[str, str]], str | None]:
    """(symbol, model id) of the database's champions, or nothing and why the database was not consulted.

    The archive's pointers and records decide what is referenced; the database is a second safety net, so
    an absent or unmigrated database is reported, not fatal. A SQLite file that does not exist is not created.
    """
    from huracan_core.db import models_with_status, open_database
    from huracan_core.exceptions import HuracanError

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        return set(), f"database not consulted: {parsed.database} does not exist"
    try:
        engine = open_database(url)
    except HuracanError as exc:
        return set(), f"database not consulted: {exc}"
    try:
        return models_with_status(engine, "champion"), None
    finally:
        engine.dispose()


@archive_app.command("prune")
@friendly_errors
def prune_command(
    older_than: Annotated[
        float, typer.Option("--older-than", min=0.001, help="Only folders older than this many days.")
    ],
    apply: Annotated[bool, typer.Option("--apply", help="Delete; without it, only list (dry run).")] = False,
    archive: ArchiveOpt = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List (default) or delete model and challenger folders older than DAYS that no champion pointer, roster
    entry, promotion record or database champion refers to, and shared encoders no kept model uses."""
    cfg = config_from(config, extra={"general.archive": archive, "general.database": db})
    storage = Storage(cfg.general.archive)
    protect, db_note = database_champions(cfg.general.database)
    report = prune_archive(storage, older_than, now=datetime.now(UTC), apply=apply, protect=protect)
    verb = "Removed" if apply else "Would remove"
    cutoff = datetime.fromisoformat(report.cutoff).strftime("%Y-%m-%d %H:%M UTC")
    _say(f"{verb} {len(report.removed)} folder(s), {_size(report.removed_bytes)}, older than {cutoff} "
         f"in {storage.url('')}:")  # fmt: skip
    for folder in report.removed:
        _say(f"  {folder.key:<45} {folder.kind:<10} {folder.files:>4} files {_size(folder.size):>9}")
    _say(
        f"Kept: {report.kept_referenced} referenced (pointer, roster, promotion record or database champion), "
        f"{report.kept_recent} newer than the cutoff."
    )
    for note in (db_note, report.encoders_note):
        if note:
            _say(f"Note: {note}")
    if not apply and report.removed:
        _say("Dry run: nothing was deleted; run again with --apply to delete these.")
