"""From scores to alarms: thresholds, duration and hysteresis, kept apart from the detectors.

A detector only says how unusual a sample is. Whether that is an alarm is a plant decision
(how sure, for how long, when to clear) and differs between sites for the same detector, so it
lives here. The filter also owns learning: with ``protect_anomalies`` it lets the detector learn
only from samples it did not find anomalous, so a slow fault is not absorbed into "normal"
(anomalous samples still advance the detector's sequence state, see ``Detector.learn_one``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from plantguard.detection.base import Detector


@dataclass(frozen=True)
class Decision:
    """The outcome for one sample."""

    score: float
    alarm: bool  # the alarm state after this sample
    raised: bool  # the alarm went on at this sample
    cleared: bool  # the alarm went off at this sample


class ThresholdFilter:
    """Alarm when the score reaches ``threshold`` for ``duration`` consecutive samples and, with
    ``duration_s``, for at least that many seconds of sample time; clear when it falls below
    ``off_threshold`` (hysteresis, defaults to ``threshold``), with ``clear_duration_s`` only
    after it has stayed below for that long.

    Why seconds as well as samples: a rule says "for a minute", and a minute is 6 samples of a
    device polled every 10 s but 600 of one pushing at 10 Hz. Seconds are measured on the
    samples' own timestamps ``t`` (never the wall clock), so a replay or a backtest over stored
    history decides exactly as the live stream did. A silence longer than ``max_gap_s`` restarts
    both timers: two anomalous samples an hour apart are not an hour of anomaly.
    """

    def __init__(
        self,
        detector: Detector[Any],
        threshold: float = 0.5,
        *,
        off_threshold: float | None = None,
        duration: int = 1,
        duration_s: float | None = None,
        clear_duration_s: float | None = None,
        max_gap_s: float | None = None,
        protect_anomalies: bool = True,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        off = threshold if off_threshold is None else off_threshold
        if not 0.0 <= off <= threshold:
            raise ValueError(f"off_threshold must be in [0, threshold], got {off_threshold}")
        if duration < 1:
            raise ValueError(f"duration must be at least 1, got {duration}")
        for name, secs in (("duration_s", duration_s), ("clear_duration_s", clear_duration_s)):
            if secs is not None and not (math.isfinite(secs) and secs >= 0.0):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {secs}")
        if max_gap_s is not None and not (math.isfinite(max_gap_s) and max_gap_s > 0.0):
            raise ValueError(f"max_gap_s must be a finite number of seconds > 0, got {max_gap_s}")
        self.detector = detector
        self.threshold = threshold
        self.off_threshold = off
        self.duration = duration
        self.duration_s = duration_s
        self.clear_duration_s = clear_duration_s
        self.max_gap_s = max_gap_s
        self.protect_anomalies = protect_anomalies
        self.reset()

    @property
    def timed(self) -> bool:
        """Whether decisions depend on sample times (and ``update`` therefore needs ``t``)."""
        return self.duration_s is not None or self.clear_duration_s is not None or self.max_gap_s is not None

    def reset(self) -> None:
        """Clear the alarm state (the detector is not reset)."""
        self.alarm = False
        self._count = 0
        self._since: float | None = None  # time of the first sample of the current anomalous run
        self._below_since: float | None = None  # time the score first fell below off_threshold
        self._last_t: float | None = None

    def update(self, x: Mapping[str, float], t: float | None = None) -> Decision:
        """Score ``x``, decide, then let the detector learn (protected if asked)."""
        if self.timed and (t is None or not math.isfinite(t)):
            raise ValueError("duration_s, clear_duration_s and max_gap_s need the sample time t")
        score = self.detector.score_one(x, t)
        anomalous = score >= self.threshold
        self.detector.learn_one(x, t, update_model=not (self.protect_anomalies and anomalous))
        if (t is not None and self._last_t is not None and self.max_gap_s is not None
                and (t - self._last_t > self.max_gap_s or t < self._last_t)):
            self._count, self._since, self._below_since = 0, None, None  # a gap restarts the timers
        if t is not None:
            self._last_t = t
        was = self.alarm
        if was:
            if score >= self.off_threshold:
                self._below_since = None
            elif self.clear_duration_s:
                assert t is not None
                if self._below_since is None:
                    self._below_since = t
                self.alarm = t - self._below_since < self.clear_duration_s
            else:
                self.alarm = False
            if self.alarm:
                self._count = self.duration
            else:
                self._count, self._since, self._below_since = 0, None, None
        else:
            if anomalous:
                self._count += 1
                if self._since is None:
                    self._since = t
            else:
                self._count, self._since = 0, None
            held = self._count >= self.duration
            if held and self.duration_s is not None:
                assert t is not None and self._since is not None
                held = t - self._since >= self.duration_s
            self.alarm = held
            if self.alarm:
                self._below_since = None
        return Decision(score=score, alarm=self.alarm, raised=self.alarm and not was, cleared=was and not self.alarm)

    def update_many(
        self, X: npt.ArrayLike, t: npt.ArrayLike | None = None, columns: Sequence[str] | None = None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """Scores and alarm states of each row, in order, as ``update`` would give them."""
        rows, times = self.detector.rows(X, t, columns)
        scores = np.empty(len(rows), dtype=np.float64)
        alarms = np.empty(len(rows), dtype=np.bool_)
        for i, row in enumerate(rows):
            d = self.update(row, times[i] if times is not None else None)
            scores[i] = d.score
            alarms[i] = d.alarm
        return scores, alarms
