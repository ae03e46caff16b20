"""The SKAB benchmark (Skoltech Anomaly Benchmark) under its official protocol.

Why this exists: detectors in PlantGuard are judged against a public benchmark with a published
leaderboard, so the numbers we print must be computed the way the benchmark computes them.
The protocol (``../shared/data/skab/ABOUT.md``):

* per file the first :data:`TRAIN_ROWS` rows are normal and only for fitting; the rest is scored;
* outlier detection: confusion counts pooled over all rows scored in all 34 anomalous files,
  F1 = TP / (TP + (FP + FN) / 2), FAR = FP / (FP + TN), MAR = FN / (FN + TP);
* changepoint detection: predicted changepoints are the rising and falling edges of the same
  binary alarm series, scored with the NAB metric as implemented in the SKAB authors' ``tsad``
  package (waico/tsad, ``tsad/evaluating/univariate_funcs.py``: ``my_scale`` — the "improved"
  tanh-shaped scaled sigmoid — and ``single_evaluate_nab``; ``tsad/evaluating/src.py``:
  ``single_detecting_boundaries`` with ``intersection_mode="cut right window"`` and
  ``extract_cp_confusion_matrix``). Windows are ``[cp, cp + 60 s]``, both ends inclusive.

The runner :func:`evaluate` hands a detector the training rows and the rows to score, and relies
on the detector's streaming semantics: alarm ``i`` must depend on rows ``<= i`` only. With
``verify_streaming=True`` it checks that by re-running the detector on a prefix of each file and
comparing the alarms on the prefix (a detector that looks ahead changes its earlier alarms).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

SENSORS: tuple[str, ...] = (
    "Accelerometer1RMS", "Accelerometer2RMS", "Current", "Pressure", "Temperature", "Thermocouple", "Voltage",
    "Volume Flow RateRMS",
)
TRAIN_ROWS = 400
WINDOW_S = 60.0
FOLDERS: tuple[str, ...] = ("valve1", "valve2", "other")
ANOMALY_FREE = "anomaly-free/anomaly-free.csv"


@dataclass(frozen=True)
class Profile:
    """NAB application profile: the weights of a true positive, a false positive and a miss."""

    name: str
    a_tp: float
    a_fp: float
    a_fn: float


PROFILES: tuple[Profile, ...] = (
    Profile("Standard", 1.0, -0.11, -1.0),
    Profile("LowFP", 1.0, -0.22, -1.0),
    Profile("LowFN", 1.0, -0.11, -2.0),
)

# Published leaderboard (test part), from ABOUT.md. None = not published there.
LEADERBOARD_OUTLIER: tuple[tuple[str, float, float | None, float | None], ...] = (
    ("Conv-AE", 0.78, 13.55, 28.02),
    ("MSET", 0.78, 39.73, 14.13),
    ("PCA T²+Q", 0.76, 26.62, 24.92),
    ("LSTM-AE", 0.74, None, None),
    ("T²", 0.66, None, None),
    ("LSTM-VAE", 0.56, None, None),
    ("Isolation Forest", 0.29, None, None),
)
LEADERBOARD_NAB_STANDARD: tuple[tuple[str, float], ...] = (
    ("MSCRED", 32.42),
    ("Isolation Forest", 26.16),
    ("T²+Q", 25.35),
    ("Conv-AE", 23.61),
    ("LSTM-AE", 23.51),
)


class SkabDataError(ValueError):
    """A SKAB file that does not have the documented layout; the message names file and row."""


# --------------------------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class SkabFile:
    name: str  # e.g. "valve1/0.csv"
    t: FloatArray  # seconds since the epoch (naive timestamps read as UTC)
    x: FloatArray  # rows × 8 sensors
    anomaly: BoolArray | None  # None for the anomaly-free file
    changepoint: BoolArray | None


_EPOCH = datetime(1970, 1, 1)


def _epoch_s(text: str) -> float:
    """Naive SKAB timestamps as seconds; only differences matter, so they are read as UTC."""
    dt = datetime.fromisoformat(text.strip())
    return (dt.replace(tzinfo=None) - _EPOCH).total_seconds()


def load_file(path: Path, name: str | None = None, *, labelled: bool = True) -> SkabFile:
    """Read one SKAB CSV (``;``-separated, LF or CRLF, ``datetime`` first, 8 sensors, labels)."""
    label = name or path.name
    with path.open(encoding="utf-8-sig", newline="") as fh:
        lines = [ln.rstrip("\r\n") for ln in fh]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        raise SkabDataError(f"{label}: empty file")
    header = [h.strip() for h in lines[0].split(";")]
    expected = ["datetime", *SENSORS] + (["anomaly", "changepoint"] if labelled else [])
    if header[: len(expected)] != expected:
        raise SkabDataError(f"{label}, row 1: header {header} is not {expected}")
    n = len(lines) - 1
    t = np.empty(n, dtype=np.float64)
    x = np.empty((n, len(SENSORS)), dtype=np.float64)
    labels = np.zeros((n, 2), dtype=np.bool_)
    for i, line in enumerate(lines[1:]):
        cells = line.split(";")
        if len(cells) < len(expected):
            raise SkabDataError(f"{label}, row {i + 2}: {len(cells)} columns, expected {len(expected)}")
        try:
            t[i] = _epoch_s(cells[0])
        except ValueError as exc:
            raise SkabDataError(f"{label}, row {i + 2}, column 'datetime': {exc}") from exc
        for j in range(len(SENSORS)):
            try:
                x[i, j] = float(cells[1 + j])
            except ValueError as exc:
                raise SkabDataError(f"{label}, row {i + 2}, column {SENSORS[j]!r}: {exc}") from exc
        if labelled:
            for k, col in enumerate(("anomaly", "changepoint")):
                cell = cells[1 + len(SENSORS) + k].strip()
                if cell not in ("0", "1", "0.0", "1.0"):
                    raise SkabDataError(f"{label}, row {i + 2}, column {col!r}: {cell!r} is not 0 or 1")
                labels[i, k] = cell.startswith("1")
    if labelled:
        return SkabFile(label, t, x, labels[:, 0].copy(), labels[:, 1].copy())
    return SkabFile(label, t, x, None, None)


def _sort_key(p: Path) -> tuple[int, str]:
    return (int(p.stem), p.stem) if p.stem.isdigit() else (1 << 30, p.stem)


def load_benchmark(data_dir: Path) -> list[SkabFile]:
    """The 34 anomalous files in a stable order (valve1, valve2, other; numeric within a folder)."""
    if not data_dir.is_dir():
        raise SkabDataError(f"{data_dir}: not a directory (expected the SKAB data folder)")
    files: list[SkabFile] = []
    for folder in FOLDERS:
        d = data_dir / folder
        if not d.is_dir():
            raise SkabDataError(f"{data_dir}: missing folder {folder}/")
        for p in sorted(d.glob("*.csv"), key=_sort_key):
            files.append(load_file(p, f"{folder}/{p.name}"))
    if not files:
        raise SkabDataError(f"{data_dir}: no CSV files under {', '.join(FOLDERS)}")
    return files


def load_anomaly_free(data_dir: Path) -> SkabFile:
    p = data_dir / ANOMALY_FREE
    if not p.is_file():
        raise SkabDataError(f"{p}: the anomaly-free file is missing")
    return load_file(p, ANOMALY_FREE, labelled=False)


# --------------------------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @property
    def f1(self) -> float:
        """TP / (TP + (FP + FN) / 2), as in the SKAB/tsad code; NaN when there is nothing to score."""
        d = self.tp + (self.fp + self.fn) / 2
        return self.tp / d if d else math.nan

    @property
    def far(self) -> float:
        """False alarm rate in %, FP / (FP + TN)."""
        d = self.fp + self.tn
        return 100.0 * self.fp / d if d else math.nan

    @property
    def mar(self) -> float:
        """Missed alarm rate in %, FN / (FN + TP)."""
        d = self.fn + self.tp
        return 100.0 * self.fn / d if d else math.nan


def confusion(true: BoolArray, pred: BoolArray) -> Confusion:
    if true.shape != pred.shape:
        raise ValueError(f"labels have shape {true.shape} but alarms have shape {pred.shape}")
    t, p = true.astype(bool), pred.astype(bool)
    return Confusion(int(np.sum(t & p)), int(np.sum(~t & p)), int(np.sum(t & ~p)), int(np.sum(~t & ~p)))


def edges(alarms: BoolArray) -> IntArray:
    """Indexes where the binary alarm series changes (rising and falling edges).

    Like ``series.diff().abs()`` with the first NaN filled by 0 in the SKAB notebooks: the first
    row is never an edge, whatever its value."""
    a = np.asarray(alarms, dtype=np.int8)
    return (np.flatnonzero(np.diff(a) != 0) + 1).astype(np.int64)


def windows(cp_times: FloatArray, width_s: float = WINDOW_S) -> list[tuple[float, float]]:
    """``[cp, cp + width]`` per true changepoint; an overlap is resolved by starting the later
    window where the earlier one ends (tsad ``intersection_mode="cut right window"``)."""
    bounds = [[float(c), float(c) + width_s] for c in np.sort(cp_times)]
    for i in range(len(bounds) - 1):
        if bounds[i][1] >= bounds[i + 1][0]:
            bounds[i + 1][0] = bounds[i][1]
    return [(a, b) for a, b in bounds]


_DETAIL = 1000  # tsad's discretisation of the scoring curve (``detalization``)


def scaled_sigmoid(relative: float, a_tp: float, a_fp: float, koef: float = 1.0) -> float:
    """Score of the first detection at relative position ``relative`` ∈ [0, 1] of its window.

    tsad ``my_scale``: y = (A_tp − A_fp)/2 · (−tanh(k·x) / tanh(k·π/2)) + (A_tp − A_fp)/2 + A_fp over
    x = linspace(−π/2, π/2, 1000), sampled at index int(relative · 1000) (clipped to 999); so the
    window start scores A_tp, its end A_fp, and the middle (A_tp + A_fp)/2.
    """
    idx = min(max(int(relative * _DETAIL), 0), _DETAIL - 1)
    x = -math.pi / 2 + math.pi * idx / (_DETAIL - 1)
    half = (a_tp - a_fp) / 2
    return half * -math.tanh(koef * x) / math.tanh(math.pi * koef / 2) + half + a_fp


@dataclass(frozen=True)
class NabCounts:
    """What NAB needs from one file, independent of the profile."""

    windows: int
    tp_positions: tuple[float, ...]  # relative position of the first detection, per detected window
    fp: int  # predicted changepoints outside every window
    missed: int

    def __add__(self, other: NabCounts) -> NabCounts:
        return NabCounts(self.windows + other.windows, self.tp_positions + other.tp_positions,
                         self.fp + other.fp, self.missed + other.missed)

    def raw(self, profile: Profile) -> float:
        """S: the sum of the window scores, the FP costs and the miss costs."""
        s = sum(scaled_sigmoid(r, profile.a_tp, profile.a_fp) for r in self.tp_positions)
        return s + profile.a_fp * self.fp + profile.a_fn * self.missed

    def score(self, profile: Profile) -> float:
        """100 · (S − N·A_fn) / (N·A_tp − N·A_fn): 100 for a perfect detector, 0 for one that is silent."""
        if self.windows == 0:
            return math.nan
        null, perfect = self.windows * profile.a_fn, self.windows * profile.a_tp
        return 100.0 * (self.raw(profile) - null) / (perfect - null)


def nab_counts(t: FloatArray, true_cp: BoolArray, predicted_cp: IntArray, width_s: float = WINDOW_S) -> NabCounts:
    """Match predicted changepoints (row indexes into ``t``) against the windows of the true ones."""
    bounds = windows(t[np.asarray(true_cp, dtype=bool)], width_s)
    pt = np.sort(t[predicted_cp]) if len(predicted_cp) else np.empty(0, dtype=np.float64)
    inside = np.zeros(len(pt), dtype=bool)
    positions: list[float] = []
    missed = 0
    for start, end in bounds:
        hit = (pt >= start) & (pt <= end)
        inside |= hit
        if hit.any():
            first = float(pt[hit][0])
            positions.append((first - start) / (end - start) if end > start else 0.0)
        else:
            missed += 1
    return NabCounts(len(bounds), tuple(positions), int(np.sum(~inside)), missed)


# --------------------------------------------------------------------------------------------- runner

Detector = Callable[[FloatArray, FloatArray, FloatArray], BoolArray]
"""(train rows × 8, rows to score × 8, their timestamps in epoch seconds) → one alarm per scored row.

Alarm ``i`` must depend only on the training rows and scored rows ``0..i`` (streaming semantics)."""


@dataclass(frozen=True)
class FileResult:
    name: str
    rows: int
    anomalous: int
    changepoints: int
    confusion: Confusion
    nab: NabCounts
    alarm_edges: int


@dataclass
class Report:
    detector: str
    use_anomaly_free: bool
    files: list[FileResult] = field(default_factory=list)

    @property
    def confusion(self) -> Confusion:
        total = Confusion()
        for f in self.files:
            total = total + f.confusion
        return total

    @property
    def nab(self) -> NabCounts:
        total = NabCounts(0, (), 0, 0)
        for f in self.files:
            total = total + f.nab
        return total

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def anomalous(self) -> int:
        return sum(f.anomalous for f in self.files)

    @property
    def changepoints(self) -> int:
        return sum(f.changepoints for f in self.files)

    def always_alarm(self) -> Confusion:
        """The trivial detector that alarms on every scored row: the floor any F1 must be read against."""
        return Confusion(tp=self.anomalous, fp=self.rows - self.anomalous, fn=0, tn=0)

    def nab_scores(self) -> dict[str, float]:
        nab = self.nab
        return {p.name: nab.score(p) for p in PROFILES}

    def to_dict(self) -> dict[str, Any]:
        c = self.confusion
        return {
            "benchmark": "SKAB",
            "detector": self.detector,
            "anomaly_free_used": self.use_anomaly_free,
            "protocol": {"train_rows_per_file": TRAIN_ROWS, "nab_window_s": WINDOW_S,
                         "profiles": {p.name: {"A_tp": p.a_tp, "A_fp": p.a_fp, "A_fn": p.a_fn} for p in PROFILES}},
            "files": len(self.files),
            "rows_scored": self.rows,
            "rows_anomalous": self.anomalous,
            "changepoints": self.changepoints,
            "outlier": {"f1": c.f1, "far_pct": c.far, "mar_pct": c.mar, **asdict(c)},
            "always_alarm_reference": {"f1": self.always_alarm().f1, "far_pct": 100.0, "mar_pct": 0.0},
            "changepoint": {"nab": self.nab_scores(), "windows": self.nab.windows,
                            "detected": len(self.nab.tp_positions), "missed": self.nab.missed,
                            "false_positives": self.nab.fp},
            "per_file": [
                {"file": f.name, "rows": f.rows, "anomalous": f.anomalous, "changepoints": f.changepoints,
                 "f1": f.confusion.f1, "far_pct": f.confusion.far, "mar_pct": f.confusion.mar,
                 **asdict(f.confusion), "alarm_edges": f.alarm_edges,
                 "nab": {p.name: f.nab.score(p) for p in PROFILES}}
                for f in self.files
            ],
            "leaderboard": {
                "outlier": [{"method": m, "f1": f1, "far_pct": far, "mar_pct": mar}
                            for m, f1, far, mar in LEADERBOARD_OUTLIER],
                "nab_standard": [{"method": m, "score": s} for m, s in LEADERBOARD_NAB_STANDARD],
            },
        }


class LookAheadError(RuntimeError):
    """The detector's alarms on a prefix differ from its alarms on the whole file."""


def _alarms(detect: Detector, train: FloatArray, x: FloatArray, t: FloatArray, name: str) -> BoolArray:
    out = np.asarray(detect(train, x, t))
    if out.shape != (len(x),):
        raise ValueError(f"{name}: the detector returned shape {out.shape}, expected ({len(x)},)")
    return out.astype(bool)


def evaluate(detect: Detector, data_dir: Path, use_anomaly_free: bool = False, *, detector_name: str = "custom",
             verify_streaming: bool = False, files: Sequence[SkabFile] | None = None) -> Report:
    """Run ``detect`` over every anomalous file under the official protocol and score it.

    With ``use_anomaly_free`` the anomaly-free file is prepended to each file's training rows
    (not part of the official protocol; the report says so)."""
    bench = list(files) if files is not None else load_benchmark(data_dir)
    extra = load_anomaly_free(data_dir).x if use_anomaly_free else None
    report = Report(detector_name, use_anomaly_free)
    for f in bench:
        if f.anomaly is None or f.changepoint is None:
            raise SkabDataError(f"{f.name}: no anomaly/changepoint labels; it cannot be scored")
        if len(f.t) <= TRAIN_ROWS:
            raise SkabDataError(f"{f.name}: {len(f.t)} rows, need more than {TRAIN_ROWS}")
        train = f.x[:TRAIN_ROWS] if extra is None else np.vstack([extra, f.x[:TRAIN_ROWS]])
        x, t = f.x[TRAIN_ROWS:], f.t[TRAIN_ROWS:]
        alarms = _alarms(detect, train, x, t, f.name)
        if verify_streaming:
            k = len(x) // 2
            prefix = _alarms(detect, train, x[:k], t[:k], f.name)
            if not np.array_equal(prefix, alarms[:k]):
                raise LookAheadError(f"{f.name}: alarms on the first {k} rows change when later rows are given")
        true_a, true_cp = f.anomaly[TRAIN_ROWS:], f.changepoint[TRAIN_ROWS:]
        cps = edges(alarms)
        report.files.append(FileResult(
            f.name, len(x), int(true_a.sum()), int(true_cp.sum()), confusion(true_a, alarms),
            nab_counts(t, true_cp, cps), len(cps),
        ))
    return report


# --------------------------------------------------------------------------------------------- baseline


class T2Baseline:
    """Streaming Hotelling T² on a causally smoothed, standardised signal.

    Fitted on the training rows only: mean and scale per sensor, a rolling mean over ``smooth``
    rows, the covariance of the smoothed training signal (with a small ridge so a constant sensor
    cannot make it singular), and the alarm threshold as the ``quantile`` of the training T²
    scaled by ``margin``. Generic by design: nothing depends on the file or on any label.
    """

    def __init__(self, smooth: int = 10, quantile: float = 0.99, margin: float = 1.0, ridge: float = 1e-3) -> None:
        if smooth < 1:
            raise ValueError("smooth must be >= 1")
        self.smooth, self.quantile, self.margin, self.ridge = smooth, quantile, margin, ridge
        self._mu: FloatArray = np.zeros(0)
        self._sd: FloatArray = np.ones(0)
        self._inv: FloatArray = np.zeros((0, 0))
        self._center: FloatArray = np.zeros(0)
        self.threshold = math.inf
        self._buf: list[FloatArray] = []

    def _smoothed(self, z: FloatArray) -> FloatArray:
        c = np.cumsum(np.vstack([np.zeros((1, z.shape[1])), z]), axis=0)
        n = np.arange(1, len(z) + 1)
        lo = np.maximum(n - self.smooth, 0)
        return np.asarray((c[n] - c[lo]) / (n - lo)[:, None], dtype=np.float64)

    def fit(self, train: FloatArray) -> T2Baseline:
        if train.ndim != 2 or len(train) < 2:
            raise ValueError(f"training data must be rows × sensors with at least 2 rows, got {train.shape}")
        self._mu = train.mean(axis=0)
        sd = train.std(axis=0)
        self._sd = np.where(sd > 0, sd, 1.0)
        s = self._smoothed((train - self._mu) / self._sd)
        s = s[self.smooth - 1:] if len(s) > self.smooth else s
        self._center = s.mean(axis=0)
        cov = np.cov(s - self._center, rowvar=False) + self.ridge * np.eye(train.shape[1])
        self._inv = np.asarray(np.linalg.inv(cov), dtype=np.float64)
        d = s - self._center
        t2 = np.einsum("ij,jk,ik->i", d, self._inv, d)
        self.threshold = float(np.quantile(t2, self.quantile)) * self.margin
        z = (train - self._mu) / self._sd
        self._buf = [row for row in z[-(self.smooth - 1):]] if self.smooth > 1 else []
        return self

    def update(self, row: FloatArray) -> tuple[float, bool]:
        """Consume one row; return its T² and whether it alarms."""
        self._buf.append((row - self._mu) / self._sd)
        if len(self._buf) > self.smooth:
            self._buf.pop(0)
        d = np.mean(self._buf, axis=0) - self._center
        t2 = float(d @ self._inv @ d)
        return t2, t2 > self.threshold


def baseline_detector(train: FloatArray, x: FloatArray, t: FloatArray) -> BoolArray:
    """:class:`T2Baseline` fed one row at a time, so it cannot look ahead."""
    det = T2Baseline().fit(train)
    out = np.zeros(len(x), dtype=bool)
    for i in range(len(x)):
        out[i] = det.update(x[i])[1]
    return out


# --------------------------------------------------------------------------------------------- output


def _pct(v: float | None) -> str:
    return "—" if v is None or math.isnan(v) else f"{v:.2f} %"


def _num(v: float | None, fmt: str = ".2f") -> str:
    return "—" if v is None or math.isnan(v) else format(v, fmt)


def format_report(report: Report) -> str:
    """A plain-text table of the result beside the published SKAB leaderboard."""
    c = report.confusion
    nab = report.nab_scores()
    out = [
        f"SKAB — {len(report.files)} files, {report.rows} rows scored (after the first {TRAIN_ROWS} of each), "
        f"{report.anomalous} anomalous, {report.changepoints} changepoints",
        f"detector: {report.detector}; anomaly-free file used for training: "
        + ("yes (not part of the official protocol)" if report.use_anomaly_free else "no (official protocol)"),
        "",
        "Outlier detection (points pooled over all files)",
        f"  {'method':<22}{'F1':>6}{'FAR':>11}{'MAR':>11}",
        f"  {'» ' + report.detector:<22}{_num(c.f1):>6}{_pct(c.far):>11}{_pct(c.mar):>11}"
        f"   TP {c.tp}  FP {c.fp}  FN {c.fn}  TN {c.tn}",
    ]
    out += [f"  {m:<22}{f1:>6.2f}{_pct(far):>11}{_pct(mar):>11}" for m, f1, far, mar in LEADERBOARD_OUTLIER]
    ref = report.always_alarm()
    out.append(f"  {'(always alarm)':<22}{_num(ref.f1):>6}{_pct(ref.far):>11}{_pct(ref.mar):>11}")
    n = report.nab
    out += [
        "",
        f"Changepoint detection (NAB, windows [cp, cp+{WINDOW_S:.0f} s]; changepoints = edges of the alarms)",
        f"  {'method':<22}{'Standard':>10}{'LowFP':>10}{'LowFN':>10}",
        f"  {'» ' + report.detector:<22}" + "".join(f"{_num(nab[p.name]):>10}" for p in PROFILES)
        + f"   windows {n.windows}, detected {len(n.tp_positions)}, FP {n.fp}",
    ]
    out += [f"  {m:<22}{s:>10.2f}{'—':>10}{'—':>10}" for m, s in LEADERBOARD_NAB_STANDARD]
    return "\n".join(out)
