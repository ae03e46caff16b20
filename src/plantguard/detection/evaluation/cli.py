"""``plantguard eval``: score a detector against a public benchmark under its official protocol."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from plantguard.detection.evaluation.skab import (
    SENSORS,
    BoolArray,
    Detector,
    FloatArray,
    LookAheadError,
    SkabDataError,
    baseline_detector,
    evaluate,
    format_report,
)

eval_app = typer.Typer(help="Evaluate detectors on public benchmarks.", no_args_is_help=True)


@eval_app.callback()
def _group() -> None:
    """Benchmarks, each under its official protocol (keeps ``skab`` a sub-command)."""


ALARM_SCORE = 0.5  # plantguard.detection.base: a score of 0.5 is every detector's own nominal alarm level
DEFAULT_DETECTOR = "multivariate"


def multivariate_detector(train: FloatArray, x: FloatArray, t: FloatArray) -> BoolArray:
    """The registered ``multivariate`` detector with its default parameters over the 8 sensors:
    fitted on the training rows, then each row scored, decided by the detector's own
    :meth:`~plantguard.detection.detectors.multivariate.Multivariate.alarm_filter` (the same
    decision the product uses) and learned, one row at a time, so it cannot look ahead."""
    from plantguard.detection.detectors.multivariate import Multivariate

    det = Multivariate(signals=list(SENSORS))
    det.learn_many(train)
    return det.alarm_filter().update_many(x, t)[1]


DETECTORS: dict[str, Detector] = {"multivariate": multivariate_detector, "baseline": baseline_detector}


def registry_detector(name: str) -> Detector:
    """Adapt a registered single-signal detector to the harness: one instance per sensor with its
    default parameters, fitted on the training rows, then scored and learned row by row (the
    registry's ``score_many`` scores each row before learning it, so there is no look-ahead); a
    row alarms when any sensor's score reaches :data:`ALARM_SCORE`. Detectors that need
    parameters with no generic default (limits, rates) raise a clear ``ValueError``."""
    from plantguard.detection import registry

    try:
        registry.get(name, signal=SENSORS[0])
    except registry.UnknownDetector:
        raise
    except (ValueError, TypeError) as exc:
        raise ValueError(f"detector {name!r} cannot run with default parameters on SKAB: {exc}") from exc

    def detect(train: FloatArray, x: FloatArray, t: FloatArray) -> BoolArray:
        alarms = np.zeros(len(x), dtype=bool)
        for j, sensor in enumerate(SENSORS):
            det = registry.get(name, signal=sensor)
            det.learn_many(train[:, j : j + 1], None, [sensor])
            scores = det.score_many(x[:, j : j + 1], t, [sensor])
            alarms |= scores >= ALARM_SCORE
        return alarms

    return detect


def _resolve(name: str) -> Detector:
    if name in DETECTORS:
        return DETECTORS[name]
    try:
        from plantguard.detection import registry
    except ImportError as exc:  # the registry is optional for the harness
        raise LookupError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}") from exc
    try:
        return registry_detector(name)
    except registry.UnknownDetector as exc:
        known = [*DETECTORS, *sorted(registry.available())]
        raise LookupError(f"unknown detector {name!r}; known: {', '.join(known)}") from exc


def _clean(v: Any) -> Any:
    """NaN is not JSON; write null instead."""
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_clean(x) for x in v]
    return v


@eval_app.command("skab")
def skab(
    data: Annotated[Path, typer.Option("--data", help="The SKAB folder (valve1/, valve2/, other/, anomaly-free/)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    detector: Annotated[str, typer.Option(
        help="multivariate (default), baseline, or a registered single-signal detector (plantguard.detectors)"
    )] = DEFAULT_DETECTOR,
    anomaly_free: Annotated[
        bool, typer.Option("--anomaly-free/--no-anomaly-free",
                           help="Add the anomaly-free file to the training rows (not the official protocol)"),
    ] = False,
) -> None:
    """Run the official SKAB protocol and print the result beside the published leaderboard."""
    try:
        detect = _resolve(detector)
    except LookupError as exc:
        typer.echo(f"--detector: {exc.args[0]}", err=True)
        raise typer.Exit(2) from exc
    except ValueError as exc:
        typer.echo(f"--detector: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        report = evaluate(detect, data, use_anomaly_free=anomaly_free, detector_name=detector)
    except (SkabDataError, LookAheadError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(_clean(report.to_dict()), ensure_ascii=False, indent=2))
    else:
        typer.echo(format_report(report))
