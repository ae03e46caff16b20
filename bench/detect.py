#!/usr/bin/env python
"""Detector latency benchmark: per-reading scoring p50/p99 for each registered detector in one
process, and throughput on the batch path (``score_many``, rows per second on one core).

Each detector gets its registry example parameters, is warmed up on ``--warmup`` readings of a
noisy signal, then timed reading by reading (``score_one`` followed by ``learn_one``, what the
alarm filter does per reading) with ``time.perf_counter_ns``. The batch path scores
``--batch`` rows in one ``score_many`` call. JSON goes to ``bench/results/detect-<stamp>.json``
and ``bench/results/detect-latest.json``.

    .venv/bin/python bench/detect.py
    .venv/bin/python bench/detect.py --readings 50000 --batch 200000
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from plantguard.detection import registry  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TARGET_P99_MS = 1.0  # univariate detectors (issue 4, point 7)


def signal(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    x = 20.0 + 2.0 * np.sin(t / 300.0) + rng.normal(0.0, 0.3, n)
    return t, x


def bench_one(name: str, readings: int, warmup: int, batch: int) -> dict[str, Any]:
    cls = registry.available()[name]
    params = dict(cls.example)
    det = registry.get(name, **params)
    col = det.inputs()
    t, x = signal(warmup + readings)
    rows = [{c: float(v) for c in col} for v in x]
    for i in range(warmup):
        det.score_one(rows[i], t[i])
        det.learn_one(rows[i], t[i])
    times = np.empty(readings, dtype=np.int64)
    for j in range(readings):
        i = warmup + j
        t0 = time.perf_counter_ns()
        det.score_one(rows[i], t[i])
        det.learn_one(rows[i], t[i])
        times[j] = time.perf_counter_ns() - t0
    fresh = registry.get(name, **params)
    tb, xb = signal(batch, seed=11)
    X = np.repeat(xb.reshape(-1, 1), len(col), axis=1)
    c0 = time.process_time()
    w0 = time.perf_counter()
    fresh.score_many(X, tb, columns=col)
    cpu = time.process_time() - c0
    wall = time.perf_counter() - w0
    p50, p99 = (float(np.percentile(times, q)) / 1e6 for q in (50, 99))
    return {
        "detector": name, "params": params, "readings": readings,
        "p50_ms": round(p50, 4), "p99_ms": round(p99, 4), "max_ms": round(float(times.max()) / 1e6, 4),
        "batch_rows": batch, "batch_rows_per_s_per_core": round(batch / cpu) if cpu > 0 else math.inf,
        "batch_wall_s": round(wall, 3), "meets_p99_target": p99 <= TARGET_P99_MS,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--readings", type=int, default=20_000)
    p.add_argument("--warmup", type=int, default=2_000)
    p.add_argument("--batch", type=int, default=100_000)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    started = datetime.now(UTC)
    results = [bench_one(name, args.readings, args.warmup, args.batch) for name in sorted(registry.available())]
    print(f"{'detector':<14} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'batch rows/s/core':>18}  p99<=1ms")
    for r in results:
        print(f"{r['detector']:<14} {r['p50_ms']:>8.4f} {r['p99_ms']:>8.4f} {r['max_ms']:>8.3f} "
              f"{r['batch_rows_per_s_per_core']:>18,}  {'yes' if r['meets_p99_target'] else 'NO'}")
    report = {
        "benchmark": "detect", "started_at": started.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine()},
        "target_p99_ms_univariate": TARGET_P99_MS, "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(report, indent=2) + "\n"
    (args.out / f"detect-{stamp}.json").write_text(text)
    (args.out / "detect-latest.json").write_text(text)
    print(f"results: {args.out / f'detect-{stamp}.json'}")
    return 0 if all(r["meets_p99_target"] for r in results) else 2


if __name__ == "__main__":
    raise SystemExit(main())
