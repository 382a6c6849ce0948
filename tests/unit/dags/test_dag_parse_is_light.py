"""Parsing dags/ is cheap: the dag-processor re-parses it all day, so no heavy library loads at parse time."""

from __future__ import annotations

from benchmarks.bench_dag_parse import DAGS, parse_once


def test_parsing_dags_takes_well_under_a_second_and_imports_no_torch_polars_or_ccxt() -> None:
    result = parse_once(DAGS)
    assert result["errors"] == {}
    assert result["dags"] == ["huracan_engine_nightly", "huracan_mechanic_hourly"]
    assert result["heavy"] == []
    assert result["parse_s"] < 1.0
