"""``plantguard detect INPUT.csv --output OUT.csv``: score any CSV time series.

One detector per numeric column (cloned from the one named), each behind a threshold filter;
a row's score is the highest of its columns' scores and it alarms when any column's filter
does. A multi-signal detector (its parameters have ``signals``, e.g. ``multivariate``) is
built once over all numeric columns and decides with its own alarm filter unless
``--threshold``/``--duration`` are given. Streaming: each row is scored from the rows before
it, then learned (anomalous rows are kept from the model). ``--train-rows N`` learns the first
N rows as normal data, with no protection (a model that fits on a block fits on them there);
their output rows are still written, scored as they were met. The file is read in bounded
chunks and the output written as it goes, so memory does not grow with its length.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from plantguard.detection.csvio import InputError, chunks, sniff

DEFAULT_DETECTOR = "robust_z"


def detect(
    input_csv: Annotated[Path, typer.Argument(help="CSV with a timestamp column and numeric columns")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write timestamp,anomaly_score,alarm")],
    train_rows: Annotated[int, typer.Option(min=0, help="Rows at the start to fit on as normal data")] = 0,
    detector: Annotated[str, typer.Option(help="A registered detector (see: plantguard detect --list)")] =
        DEFAULT_DETECTOR,
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Alarm at this score or above")] = 0.5,
    duration: Annotated[int | None, typer.Option(
        min=1, help="Consecutive rows at or above the threshold [default: the detector's own, else 1]")] = None,
) -> None:
    """Score every row of a CSV time series; write timestamp,anomaly_score,alarm for each."""
    from plantguard.detection import registry
    from plantguard.detection.filters import ThresholdFilter

    if not input_csv.is_file():
        _fail(f"{input_csv}: no such file")
    try:
        layout = sniff(input_csv)
    except InputError as exc:
        _fail(str(exc))
    except UnicodeDecodeError:
        _fail(f"{input_csv}: not UTF-8 text")
    if not 0.0 < threshold <= 1.0:
        _fail("--threshold: must be above 0 and at most 1")
    filters: list[ThresholdFilter] = []
    names = layout.feature_names
    cls = registry.available().get(detector)
    if cls is None:
        _fail(f"--detector: unknown detector {detector!r}; known: {', '.join(sorted(registry.available()))}")
        return
    if "signals" in cls.params_model.model_fields:  # a multi-signal model: one detector over every column
        try:
            det = registry.get(detector, signals=list(names))
        except ValueError as exc:
            _fail(f"--detector {detector}: {_first_line(exc)}")
        own = getattr(det, "alarm_filter", None)
        if callable(own) and threshold == 0.5 and duration is None:
            filters.append(own())  # the detector's own decision (hysteresis, confirmation)
        else:
            filters.append(ThresholdFilter(det, threshold, duration=duration or 1))
    for name in names if not filters else ():
        try:
            det = registry.get(detector, signal=name)
        except ValueError as exc:  # pydantic: parameters the detector needs and did not get
            _fail(f"--detector {detector}: {_first_line(exc)}")
        filters.append(ThresholdFilter(det, threshold, duration=duration or 1))
    rows_done = 0
    try:
        with output.open("w", encoding="utf-8", newline="") as out:
            w = csv.writer(out)
            w.writerow(["timestamp", "anomaly_score", "alarm"])
            for chunk in chunks(input_csv, layout):
                for i in range(len(chunk.t)):
                    x: dict[str, float] = {n: float(v) for n, v in zip(names, chunk.x[i], strict=True)}
                    t = float(chunk.t[i])
                    if rows_done == train_rows and train_rows:
                        _end_training(filters)
                    score, alarm = _step(filters, x, t, training=rows_done < train_rows)
                    w.writerow([chunk.raw_time[i], f"{score:.6f}", 1 if alarm else 0])
                    rows_done += 1
    except InputError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{output}: {exc.strerror or exc}")
    typer.echo(f"{rows_done} rows scored with {detector} over {len(names)} columns → {output}", err=True)


def _step(filters: list[Any], x: dict[str, float], t: float, *, training: bool) -> tuple[float, bool]:
    score, alarm = 0.0, False
    for f in filters:
        if training:
            s = f.detector.score_one(x, t)
            f.detector.learn_one(x, t)
            f.reset()
            a = False
        else:
            d = f.update(x, t)
            s, a = d.score, d.alarm
        if math.isfinite(s):
            score = max(score, min(1.0, max(0.0, s)))
        alarm = alarm or a
    return score, alarm


def _end_training(filters: list[Any]) -> None:
    """Models that fit on a block of rows (``fit_now``) fit on the training rows now, rather
    than waiting for their own warm-up length."""
    for f in filters:
        fit_now = getattr(f.detector, "fit_now", None)
        if callable(fit_now):
            fit_now()


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split("\n")[:2])


def _fail(message: str) -> Any:
    typer.echo(f"error: {message}", err=True)
    sys.stdout.flush()
    raise typer.Exit(2)
