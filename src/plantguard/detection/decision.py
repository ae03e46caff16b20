"""Alarm decisions by accumulated evidence: a CUSUM to raise, a CUSUM of normality to clear.

Why not "N rows above the level, clear below a fraction of it" (:class:`~plantguard.detection.
filters.ThresholdFilter` with ``duration`` and ``off_threshold``): a fixed row count treats a
jump to twenty times the alarm level like a row just above it, so a strong fault waits as long
as a marginal one; and a smoothed score that clears below a fixed fraction of the level keeps the
alarm on long after a large fault has ended, because the smoothing has to forget the large
values first. Page's CUSUM fixes both with one idea — add up how far each sample is from a
reference and act when the sum is large enough:

* **raise**: ``U = max(0, U + e - onset_drift)`` while the alarm is off; raise at
  ``U >= onset_evidence``. ``e`` is the sample's evidence in units of the detector's alarm level
  (1 = exactly at it). A sample far above the level raises at once, one just above it after a
  few samples, noise below ``onset_drift`` never accumulates.
* **clear**: ``N = max(0, N + clear_level - e)`` while the alarm is on; clear at
  ``N >= clear_evidence``. Clearly normal samples clear within a couple of samples, however large
  the fault was; samples hovering around ``clear_level`` take longer, so a fault that weakens for
  a moment does not clear and re-raise (chatter).
* ``min_on_s`` / ``min_off_s``: an alarm lasts at least ``min_on_s`` of sample time, and after a
  clear a new alarm needs ``min_off_s`` of sample time (the evidence restarts from zero after
  it). This is the classic chatter suppression of alarm management: an edge is an action for an
  operator, so a flickering alarm costs more than a few seconds of delay. The timers only hold
  back a change the evidence asks for; they never raise or clear by themselves. Without sample
  times (``t`` None) they are not applied.

Evidence comes from the detector (``evidence()`` after ``score_one``) so that a detector can
hand over its per-sample statistic before any smoothing: the CUSUM is the smoothing, and a second
one only delays both edges. Decisions use samples up to the current one only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from plantguard.detection.base import Detector
from plantguard.detection.filters import Decision, ThresholdFilter


class EvidenceFilter(ThresholdFilter):
    """A :class:`ThresholdFilter` whose raise/clear decision is the evidence CUSUM above.

    It keeps the filter's interface (``update``, ``update_many``, ``alarm``, ``reset``,
    ``detector``), so it can stand wherever a threshold filter does. ``protect_anomalies`` keeps
    a sample out of the detector's model while the alarm is on or while its score reaches 0.5."""

    def __init__(
        self,
        detector: Detector[Any],
        evidence: Callable[[], float],
        *,
        onset_drift: float = 0.5,
        onset_evidence: float = 3.0,
        clear_level: float = 0.7,
        clear_evidence: float = 1.0,
        min_on_s: float = 0.0,
        min_off_s: float = 0.0,
        protect_anomalies: bool = True,
    ) -> None:
        checks = {"onset_drift": onset_drift, "onset_evidence": onset_evidence, "clear_level": clear_level,
                  "clear_evidence": clear_evidence}
        for name, v in checks.items():
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError(f"{name} must be a finite number > 0, got {v}")
        for name, v in (("min_on_s", min_on_s), ("min_off_s", min_off_s)):
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {v}")
        self.evidence = evidence
        self.onset_drift, self.onset_evidence = onset_drift, onset_evidence
        self.clear_level, self.clear_evidence = clear_level, clear_evidence
        self.min_on_s, self.min_off_s = min_on_s, min_off_s
        super().__init__(detector, 0.5, protect_anomalies=protect_anomalies)

    @property
    def timed(self) -> bool:
        return False  # the dwell times use t when given and are skipped without it

    def reset(self) -> None:
        super().reset()
        self.onset = 0.0  # U: evidence of an anomaly accumulated while the alarm is off
        self.normal = 0.0  # N: evidence of normality accumulated while the alarm is on
        self._changed_at: float | None = None  # sample time of the last raise or clear

    def _held(self, t: float | None, dwell: float) -> bool:
        """Whether the last change is younger than ``dwell`` seconds of sample time."""
        return (dwell > 0.0 and t is not None and math.isfinite(t) and self._changed_at is not None
                and 0.0 <= t - self._changed_at < dwell)

    def update(self, x: Mapping[str, float], t: float | None = None) -> Decision:
        """Score ``x``, add its evidence, decide, then let the detector learn (protected if asked)."""
        score = self.detector.score_one(x, t)
        e = self.evidence()
        e = e if math.isfinite(e) and e > 0.0 else 0.0
        was = self.alarm
        if was:
            self.normal = max(0.0, self.normal + self.clear_level - e)
            if self.normal >= self.clear_evidence and not self._held(t, self.min_on_s):
                self.alarm, self.onset, self._changed_at = False, 0.0, t
        elif self._held(t, self.min_off_s):
            self.onset = 0.0  # evidence counts again once the re-raise delay has passed
        else:
            self.onset = max(0.0, self.onset + e - self.onset_drift)
            if self.onset >= self.onset_evidence:
                self.alarm, self.normal, self._changed_at = True, 0.0, t
        protect = self.protect_anomalies and (self.alarm or score >= self.threshold)
        self.detector.learn_one(x, t, update_model=not protect)
        return Decision(score=score, alarm=self.alarm, raised=self.alarm and not was, cleared=was and not self.alarm)
