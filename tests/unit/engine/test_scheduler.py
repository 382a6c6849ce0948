"""The scheduler runs every symbol, in batches and at once where asked, and survives tasks that misbehave.

Every task is a real spawned worker process; the work functions live in tests/stubs/scheduler_work.py.
Durations are never asserted except generous upper bounds: ordering and counts carry the tests.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from huracan_core.archive import Storage
from huracan_core.config import EngineConfig
from huracan_core.engine.resume import ResumeLedger
from huracan_core.engine.scheduler import Event, ScheduleConfig, run_schedule
from huracan_core.exceptions import ConfigError
from tests.stubs import scheduler_work as work

SYMBOLS = ["AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT", "EEEUSDT"]
AS_OF = "2025-01-01"


def fast(mode: str = "hybrid", **overrides: object) -> ScheduleConfig:
    """Test settings: short waits everywhere so failures and retries cost milliseconds, not minutes."""
    values: dict[str, object] = {
        "mode": mode,
        "max_concurrent": 2,
        "parallel_tasks": 2,
        "coins_per_batch": 2,
        "timeout_s": 30.0,
        "retries": 1,
        "backoff_s": 0.01,
        "kill_grace_s": 0.2,
    }
    values.update(overrides)
    return ScheduleConfig(**values)  # type: ignore[arg-type]


def process_is_running(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped by init counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_until(condition: Callable[[], bool], *, within_s: float) -> bool:
    """Poll `condition` until true or `within_s` seconds pass (a bound, never a timing assertion)."""
    give_up = time.monotonic() + within_s
    while time.monotonic() < give_up:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


needs_two_cores = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")


@pytest.mark.parametrize("mode", ["sequential", "parallel", "hybrid"])
def test_every_mode_runs_every_symbol_and_returns_its_result(mode: str) -> None:
    report = run_schedule(
        SYMBOLS, work.echo, config=fast(mode), as_of=AS_OF, ledger=None, kwargs={"tag": mode}
    )

    assert report.done == SYMBOLS
    assert report.failed == {} and report.skipped == []
    for symbol in SYMBOLS:
        assert report.symbols[symbol].result is not None
        assert report.symbols[symbol].result["symbol"] == symbol
        assert report.symbols[symbol].result["tag"] == mode
        assert report.symbols[symbol].attempts == 1
    if mode == "sequential":
        assert report.max_concurrency_observed == 1
    assert report.max_concurrency_observed <= 2


def test_every_task_runs_in_its_own_process_apart_from_the_caller() -> None:
    report = run_schedule(SYMBOLS[:3], work.echo, config=fast("parallel"), as_of=AS_OF, ledger=None)

    pids = {report.symbols[s].result["pid"] for s in SYMBOLS[:3]}  # type: ignore[index]
    assert len(pids) == 3
    assert os.getpid() not in pids


def test_hybrid_batches_have_the_configured_size_in_the_given_order() -> None:
    report = run_schedule(SYMBOLS, work.echo, config=fast("hybrid"), as_of=AS_OF, ledger=None)

    batches = [list(task.symbols) for task in sorted(report.tasks, key=lambda t: t.task_id)]
    assert batches == [SYMBOLS[0:2], SYMBOLS[2:4], SYMBOLS[4:5]]
    assert report.symbols["AAAUSDT"].result["batch"] == SYMBOLS[0:2]  # type: ignore[index]


@needs_two_cores
def test_hybrid_batches_run_at_the_same_time_but_never_more_than_max_concurrent(tmp_path: Path) -> None:
    six = [f"{c}{c}{c}USDT" for c in "ABCDEF"]
    report = run_schedule(
        six,
        work.rendezvous,
        config=fast("hybrid", max_concurrent=2, coins_per_batch=2),
        as_of=AS_OF,
        ledger=None,
        kwargs={"folder": str(tmp_path), "parties": 2},
    )

    # The first two batches can only report `met` if both were running at once.
    assert report.symbols["AAAUSDT"].result["met"] is True  # type: ignore[index]
    assert report.symbols["CCCUSDT"].result["met"] is True  # type: ignore[index]
    assert report.done == six
    assert report.concurrency_limit == 2
    assert report.max_concurrency_observed == 2
    first, second, third = sorted(report.tasks, key=lambda t: t.task_id)
    assert first.started_s < second.ended_s and second.started_s < first.ended_s  # overlapping
    assert third.started_s >= min(first.ended_s, second.ended_s)  # waited for a free slot


def test_concurrency_is_capped_at_the_core_count_unless_oversubscribing() -> None:
    assert ScheduleConfig(mode="hybrid", max_concurrent=12).concurrency_limit(2) == 2
    assert ScheduleConfig(mode="parallel", parallel_tasks=8).concurrency_limit(4) == 4
    assert ScheduleConfig(mode="sequential").concurrency_limit(16) == 1
    assert (
        ScheduleConfig(mode="hybrid", max_concurrent=12, allow_oversubscribe=True).concurrency_limit(2) == 12
    )


@needs_proc
def test_timed_out_worker_is_killed_with_its_children_before_its_retry_runs(tmp_path: Path) -> None:
    events: list[Event] = []
    started = time.monotonic()
    report = run_schedule(
        ["AAAUSDT"],
        work.hang_first_time,
        config=fast("parallel", timeout_s=2.0, retries=1),
        as_of=AS_OF,
        ledger=None,
        kwargs={"folder": str(tmp_path), "sleep_s": 5.0},
        on_event=events.append,
    )

    outcome = report.symbols["AAAUSDT"]
    assert outcome.status == "done" and outcome.attempts == 2
    assert outcome.result is not None and outcome.result["tag"] == "retry"
    assert [e.kind for e in events] == ["started", "timed_out", "retrying", "started", "finished"]
    assert events[1].reasons == {"AAAUSDT": "timed out after 2 s"}
    hung, retry = sorted(report.tasks, key=lambda t: t.task_id)
    assert hung.outcome == "timed_out" and retry.outcome == "ok"
    assert hung.ended_s <= retry.started_s  # the retry began only once the hung worker was gone
    assert hung.pid is not None and not process_is_running(hung.pid)
    child_pid = int((tmp_path / "child-pid").read_text())
    assert not process_is_running(child_pid)  # what the hung worker started died with it
    assert report.wall_time_s < 30  # generous bound; the pids and the marker are the real checks

    # Wait out the hung worker's sleep: had it survived, it would now write its marker.
    time.sleep(max(0.0, 5.5 - (time.monotonic() - started)))
    assert not (tmp_path / "marker").exists()


@needs_proc
def test_a_worker_whose_scheduler_dies_stops_instead_of_running_on_as_an_orphan(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    parent = ctx.Process(target=work.schedule_long_task, args=(str(tmp_path),))
    parent.start()
    pid_file = tmp_path / "worker-pid"
    assert wait_until(pid_file.exists, within_s=30), "the worker never started"
    worker_pid = int(pid_file.read_text())

    os.kill(parent.pid, signal.SIGKILL)  # type: ignore[arg-type]  # as the OOM killer would
    parent.join()

    assert wait_until(lambda: not process_is_running(worker_pid), within_s=10)
    assert not (tmp_path / "marker").exists()


def test_a_raising_coin_fails_alone_once_its_batch_is_split_on_the_last_attempt() -> None:
    symbols = ["AAAUSDT", "BBBUSDT", "POISONUSDT", "DDDUSDT"]
    report = run_schedule(
        symbols,
        work.fail_with_poison,
        config=fast("hybrid", coins_per_batch=3, retries=1),
        as_of=AS_OF,
        ledger=None,
        kwargs={"poison": "POISONUSDT"},
    )

    assert report.done == ["AAAUSDT", "BBBUSDT", "DDDUSDT"]
    assert report.failed == {"POISONUSDT": "ValueError: cannot train POISONUSDT: poisoned candles"}
    assert report.symbols["AAAUSDT"].attempts == 2
    assert report.symbols["POISONUSDT"].attempts == 2
    assert report.symbols["DDDUSDT"].attempts == 1
    last_attempt = [list(t.symbols) for t in report.tasks if t.attempt == 2]
    assert sorted(last_attempt) == [["AAAUSDT"], ["BBBUSDT"], ["POISONUSDT"]]


def test_without_retries_a_raising_batch_fails_each_of_its_coins_with_the_reason() -> None:
    report = run_schedule(
        ["AAAUSDT", "POISONUSDT", "CCCUSDT"],
        work.fail_with_poison,
        config=fast("hybrid", coins_per_batch=2, retries=0),
        as_of=AS_OF,
        ledger=None,
        kwargs={"poison": "POISONUSDT"},
    )

    reason = "ValueError: cannot train POISONUSDT: poisoned candles"
    assert report.failed == {"AAAUSDT": reason, "POISONUSDT": reason}
    assert report.done == ["CCCUSDT"]  # one failing task never stops the others


def test_a_worker_that_dies_without_reporting_is_reported_with_its_exit_code() -> None:
    events: list[Event] = []
    report = run_schedule(
        ["AAAUSDT"],
        work.exit_abruptly,
        config=fast("sequential", retries=0),
        as_of=AS_OF,
        ledger=None,
        kwargs={"code": 3},
        on_event=events.append,
    )

    assert report.failed == {"AAAUSDT": "worker exited with code 3 without reporting"}
    assert report.tasks[0].outcome == "crashed"
    assert events[-1].kind == "failed" and events[-1].final is True


def test_a_symbol_in_error_or_missing_fails_alone_and_only_failed_symbols_are_retried(tmp_path: Path) -> None:
    report = run_schedule(
        ["AAAUSDT", "BADUSDT", "MISSINGUSDT"],
        work.partial_results,
        config=fast("hybrid", coins_per_batch=3, retries=1),
        as_of=AS_OF,
        ledger=None,
        kwargs={"folder": str(tmp_path), "bad": "BADUSDT", "missing": "MISSINGUSDT"},
    )

    assert report.done == ["AAAUSDT"]
    assert report.failed == {
        "BADUSDT": "BADUSDT: not enough candles",
        "MISSINGUSDT": "the work function returned no result for MISSINGUSDT",
    }
    assert (tmp_path / "calls-AAAUSDT").read_text().count("call") == 1
    assert (tmp_path / "calls-BADUSDT").read_text().count("call") == 2
    assert report.tasks[0].outcome == "partial"


def test_failed_tasks_back_off_exponentially_up_to_the_cap() -> None:
    events: list[Event] = []
    report = run_schedule(
        ["AAAUSDT"],
        work.always_fail,
        config=fast("parallel", retries=3, backoff_s=0.05, backoff_max_s=0.1),
        as_of=AS_OF,
        ledger=None,
        on_event=events.append,
    )

    assert report.failed == {"AAAUSDT": "RuntimeError: training failed for AAAUSDT"}
    assert report.symbols["AAAUSDT"].attempts == 4
    retrying = [e for e in events if e.kind == "retrying"]
    assert [e.delay_s for e in retrying] == [0.05, 0.1, 0.1]
    assert [e.attempt for e in retrying] == [2, 3, 4]
    failures = [e for e in events if e.kind == "failed"]
    assert [e.final for e in failures] == [False, False, False, True]
    starts = [e for e in events if e.kind == "started"]
    for failure, wait, start in zip(failures[:-1], retrying, starts[1:], strict=True):
        assert start.elapsed_s >= failure.elapsed_s + wait.delay_s  # type: ignore[operator]


def test_resume_skips_symbols_done_for_that_date_and_force_runs_them_again(tmp_path: Path) -> None:
    ledger = ResumeLedger(Storage(tmp_path / "archive"), "engine_runs/2025-01-01/ledger.json")
    calls = tmp_path / "calls"
    calls.mkdir()
    kwargs = {"folder": str(calls)}
    cfg = fast("hybrid")

    first = run_schedule(
        SYMBOLS[:2], work.counted_echo, config=cfg, as_of=AS_OF, ledger=ledger, kwargs=kwargs
    )
    assert first.done == SYMBOLS[:2]
    assert ledger.done(AS_OF) == set(SYMBOLS[:2])

    events: list[Event] = []
    second = run_schedule(
        SYMBOLS[:3],
        work.counted_echo,
        config=cfg,
        as_of=AS_OF,
        ledger=ledger,
        kwargs=kwargs,
        on_event=events.append,
    )
    assert second.skipped == SYMBOLS[:2] and second.done == SYMBOLS[2:3]
    assert second.results()["AAAUSDT"]["symbol"] == "AAAUSDT"  # the earlier run's result, from the ledger
    assert events[0].kind == "skipped" and events[0].symbols == tuple(SYMBOLS[:2])
    assert (calls / "calls-AAAUSDT").read_text().count("call") == 1

    forced = run_schedule(
        SYMBOLS[:3], work.counted_echo, config=cfg, as_of=AS_OF, ledger=ledger, kwargs=kwargs, force=True
    )
    assert forced.done == SYMBOLS[:3] and forced.skipped == []
    assert (calls / "calls-AAAUSDT").read_text().count("call") == 2

    other_day = run_schedule(
        SYMBOLS[:1], work.counted_echo, config=cfg, as_of="2025-01-02", ledger=ledger, kwargs=kwargs
    )
    assert other_day.done == SYMBOLS[:1]


def test_a_run_that_stopped_part_way_resumes_with_the_symbols_it_had_not_finished(tmp_path: Path) -> None:
    ledger = ResumeLedger(Storage(tmp_path), "engine_runs/2025-01-01/ledger.json")
    symbols = ["AAAUSDT", "POISONUSDT", "CCCUSDT"]
    cfg = fast("parallel", retries=0)

    broken = run_schedule(
        symbols,
        work.fail_with_poison,
        config=cfg,
        as_of=AS_OF,
        ledger=ledger,
        kwargs={"poison": "POISONUSDT"},
    )
    assert set(broken.failed) == {"POISONUSDT"}
    assert ledger.done(AS_OF) == {"AAAUSDT", "CCCUSDT"}  # marked as their tasks finished

    resumed = run_schedule(symbols, work.echo, config=cfg, as_of=AS_OF, ledger=ledger)
    assert resumed.skipped == ["AAAUSDT", "CCCUSDT"]
    assert resumed.done == ["POISONUSDT"]
    assert ledger.done(AS_OF) == set(symbols)


def test_a_forced_rerun_that_fails_a_symbol_takes_it_out_of_the_ledger(tmp_path: Path) -> None:
    ledger = ResumeLedger(Storage(tmp_path), "ledger.json")
    ledger.mark_done(AS_OF, "POISONUSDT", {"model_id": "old"})

    run_schedule(
        ["POISONUSDT"], work.fail_with_poison, config=fast("parallel", retries=0), as_of=AS_OF, ledger=ledger,
        force=True, kwargs={"poison": "POISONUSDT"},
    )  # fmt: skip

    assert ledger.done(AS_OF) == set()  # the next resume must train it again


def test_an_event_handler_that_raises_does_not_stop_the_run() -> None:
    def broken_handler(event: Event) -> None:
        raise OSError("status file unwritable")

    report = run_schedule(
        SYMBOLS[:2], work.echo, config=fast(), as_of=AS_OF, ledger=None, on_event=broken_handler
    )

    assert report.done == SYMBOLS[:2]


def test_a_work_function_that_workers_cannot_import_by_name_is_refused() -> None:
    with pytest.raises(TypeError, match="top-level function"):
        run_schedule(SYMBOLS, lambda batch: {}, config=fast(), as_of=AS_OF, ledger=None)


def test_invalid_settings_are_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match="max_concurrent=0"):
        ScheduleConfig(max_concurrent=0)
    with pytest.raises(ConfigError, match="timeout_s=-1"):
        ScheduleConfig(timeout_s=-1)
    with pytest.raises(ConfigError, match="start_method='fork'"):
        ScheduleConfig(start_method="fork")  # type: ignore[arg-type]


def test_settings_come_from_the_engine_section_with_minutes_as_seconds() -> None:
    cfg = ScheduleConfig.from_engine(EngineConfig(mode="parallel", timeout_minutes=2, retries=1))

    assert cfg.mode == "parallel"
    assert cfg.timeout_s == 120.0
    assert cfg.retries == 1
    assert cfg.task_timeout(8) == 960.0  # a batch of 8 coins gets 8 times the per-coin limit


def test_cpu_batches_are_even_and_a_multiple_of_the_workers() -> None:
    from unittest import mock

    from huracan_core.config import load_config
    from huracan_core.engine.nightly import batch_size

    config = load_config(None, overrides={"engine.coins_per_batch": 8, "engine.max_concurrent": 2})
    with mock.patch("os.cpu_count", return_value=2):
        assert batch_size(config, 20) == 5  # 4 batches of 5: both cores busy to the end (not 8 + 8 + 4)
        assert batch_size(config, 3) == 2  # [2, 1]
        assert batch_size(config, 40) == 7  # 6 batches: 7 x 5 + 5, never above coins_per_batch
        assert batch_size(config, 1) == 1
    gpu = load_config(None, overrides={"engine.coins_per_batch": 12, "engine.device": "cuda"})
    assert batch_size(gpu, 20) == 12  # on a GPU one task trains a full batch of heads


@needs_two_cores
def test_each_worker_gets_its_share_of_the_cores_and_the_callers_environment_is_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("NUMBA_NUM_THREADS", "1")  # set by the user: left as it is
    cores = os.cpu_count() or 1
    for mode, workers in (("hybrid", 2), ("sequential", 1)):
        report = run_schedule(SYMBOLS[:2], work.thread_settings, config=fast(mode), as_of=AS_OF, ledger=None)
        seen = report.symbols["AAAUSDT"].result
        assert seen is not None
        assert seen["OMP_NUM_THREADS"] == seen["POLARS_MAX_THREADS"] == str(max(1, cores // workers))
        assert seen["NUMBA_NUM_THREADS"] == "1"
    assert "OMP_NUM_THREADS" not in os.environ
