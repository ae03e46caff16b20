"""From scores to alarms: thresholds, duration and hysteresis, kept apart from the detectors.

A detector only says how unusual a sample is. Whether that is an alarm is a plant decision
(how sure, for how long, when to clear) and differs between sites for the same detector, so it
lives here. The filter also owns learning: with ``protect_anomalies`` it lets the detector learn
only from samples it did not find anomalous, so a slow fault is not absorbed into "normal"
(anomalous samples still advance the detector's sequence state, see ``Detector.learn_one``).
"""

from __future__ import annotations

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
    """Alarm when the score reaches ``threshold`` for ``duration`` consecutive samples; clear
    when it falls below ``off_threshold`` (hysteresis, defaults to ``threshold``)."""

    def __init__(
        self,
        detector: Detector[Any],
        threshold: float = 0.5,
        *,
        off_threshold: float | None = None,
        duration: int = 1,
        protect_anomalies: bool = True,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        off = threshold if off_threshold is None else off_threshold
        if not 0.0 <= off <= threshold:
            raise ValueError(f"off_threshold must be in [0, threshold], got {off_threshold}")
        if duration < 1:
            raise ValueError(f"duration must be at least 1, got {duration}")
        self.detector = detector
        self.threshold = threshold
        self.off_threshold = off
        self.duration = duration
        self.protect_anomalies = protect_anomalies
        self.reset()

    def reset(self) -> None:
        """Clear the alarm state (the detector is not reset)."""
        self.alarm = False
        self._count = 0

    def update(self, x: Mapping[str, float], t: float | None = None) -> Decision:
        """Score ``x``, decide, then let the detector learn (protected if asked)."""
        score = self.detector.score_one(x, t)
        anomalous = score >= self.threshold
        self.detector.learn_one(x, t, update_model=not (self.protect_anomalies and anomalous))
        was = self.alarm
        if was:
            self.alarm = score >= self.off_threshold
            self._count = self.duration if self.alarm else 0
        else:
            self._count = self._count + 1 if anomalous else 0
            self.alarm = self._count >= self.duration
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
