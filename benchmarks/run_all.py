"""`make bench`: run every benchmark in this folder side by side with its baseline and print the ratios."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    print(f"Huracan benchmarks on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    results: dict[str, object] = {}
    failures = 0
    for path in sorted(HERE.glob("bench_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        print(f"\n== {path.stem} ==")
        started = time.perf_counter()
        try:
            spec.loader.exec_module(module)
            fn = getattr(module, "run", None) or module.run_benchmark
            results[path.stem] = fn()
            print(f"result: {json.dumps(results[path.stem], default=str)[:1500]}")
        except Exception as exc:  # a broken benchmark is reported, the others still run
            failures += 1
            results[path.stem] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"FAILED: {exc}")
        print(f"({time.perf_counter() - started:.1f}s)")
    out = HERE.parent / "bench_out" / "results.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nAll figures: {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
