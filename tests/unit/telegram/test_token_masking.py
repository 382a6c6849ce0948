"""The token mask survives a library that installs its own log record factory after the bot's (Airflow does)."""

from __future__ import annotations

import logging
import sys

import pytest

from huracan_telegram.bot_api import protect_token

TOKEN = "4242424:SECRET-factory-replaced-abcdef"


def test_the_mask_is_installed_again_when_another_library_replaced_the_record_factory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    original = logging.getLogRecordFactory()
    try:
        protect_token(TOKEN)
        logging.setLogRecordFactory(logging.LogRecord)  # what a library's logging setup may do
        protect_token(TOKEN)  # the bot protects its token at every start
        with caplog.at_level(logging.INFO):
            logging.getLogger("huracan.test").info("calling https://api.example/bot%s/getMe", TOKEN)
        assert TOKEN not in caplog.text and "<token>" in caplog.text
    finally:
        logging.setLogRecordFactory(original)


def test_a_handler_that_renders_exceptions_itself_gets_no_token(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    original = logging.getLogRecordFactory()
    logger = logging.getLogger("huracan.test.rich")
    # Renders record.exc_info with rich, not exc_text; wide, so no line is wrapped inside the token.
    handler = RichHandler(rich_tracebacks=True, console=Console(width=400, file=sys.stdout))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        protect_token(TOKEN)
        try:
            raise ValueError(f"The token `{TOKEN}` was rejected by the server.")
        except ValueError:
            logger.exception("start failed")
        out = capsys.readouterr()
        assert "start failed" in out.out + out.err and "was rejected by the server" in out.out + out.err
        assert TOKEN not in out.out + out.err
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logging.setLogRecordFactory(original)


def test_a_record_made_without_the_factory_is_masked_when_a_handler_takes_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    protect_token(TOKEN)
    try:
        raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")
    except RuntimeError:
        exc_info = sys.exc_info()
    # What structlog's formatter and other logging set-ups do: copy a record, bypassing the record factory.
    record = logging.makeLogRecord({"name": "telegram.ext.Application", "levelno": logging.DEBUG,
                                    "levelname": "DEBUG", "msg": "getMe at https://api/bot%s", "args": (TOKEN,),
                                    "exc_info": exc_info})  # fmt: skip
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("telegram.ext.Application").handle(record)
    assert "rejected by the server" in caplog.text and TOKEN not in caplog.text


class _ClosedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler left behind with a closed stream: every emit fails and logging reports it on stderr."""

    def __init__(self) -> None:
        import io

        stream = io.StringIO()
        stream.close()
        super().__init__(stream)


def test_a_failing_handler_reports_its_error_without_the_token_it_was_handling(
    capsys: pytest.CaptureFixture[str],
) -> None:
    protect_token(TOKEN)
    logger = logging.getLogger("huracan.test.closed")
    handler = _ClosedStreamHandler()
    logger.addHandler(handler)
    try:
        try:
            raise ValueError(f"The token `{TOKEN}` was rejected by the server.")
        except ValueError:
            logger.error("Telegram refused the bot token")  # inside the except: the context is the ValueError
        err = capsys.readouterr().err
        assert "Logging error" in err and "was rejected by the server" in err  # logging reported the failure
        assert TOKEN not in err
    finally:
        logger.removeHandler(handler)
