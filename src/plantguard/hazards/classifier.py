"""Suggest a hazard's category and grade (一般/重大) from the reporter's description.

Why a model and not keywords: reporters write the same hazard a dozen ways ("叉车司机没证",
"无证驾驶叉车", "叉车工还没考证就上车"); a linear model over jieba words plus character
n-grams generalises over wording while staying small, fast and explainable.

The model is trained on first use from ``data/training.yaml`` (a labelled set written for this
project; ~700 sentences, well under a second), so nothing is downloaded or stored at run time.
Features: TF-IDF over jieba tokens (with the domain dictionary ``data/jieba_dict.txt`` so
terms like 安全联锁, 有限空间, 动火, 防爆 stay whole) united with TF-IDF over character 1–3-grams
(robust to words jieba splits oddly). Category: multinomial logistic regression; grade: a
second, class-balanced logistic regression so 重大 is not drowned by the common 一般. The
configuration was picked by 5-fold cross-validation on the training part only; the held-out
part is scored by :func:`evaluate` (``plantguard eval hazards``, docs/hazards-classifier.md).

The suggestion is advice: ``confidence`` is the model's probability for the category and
``confident`` is false below :data:`CONFIDENT`, where the UI says "not sure" instead of guessing.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

import yaml

from plantguard.hazards.categories import CATEGORIES
from plantguard.hazards.contract import HazardGrade

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

TRAINING_FILE: Final = "training.yaml"
DICT_FILE: Final = "jieba_dict.txt"
SEED: Final = 6  # the fixed split's seed (issue 6)
TEST_SIZE: Final = 0.25
CONFIDENT: Final = 0.5  # below this category probability the UI says it is not sure
MAX_CHARS: Final = 2000  # longer text is cut: the opening says what the hazard is
TOP_N: Final = 3

_WORD = re.compile(r"\w")
_lock = threading.Lock()
_tokenizer: Any = None
_models: tuple[Pipeline, Pipeline] | None = None


@dataclass(frozen=True)
class Suggestion:
    category: str
    grade: HazardGrade
    confidence: float  # probability of ``category``
    grade_confidence: float  # probability of ``grade``
    top: list[tuple[str, float]] = field(default_factory=list)  # best categories first

    @property
    def confident(self) -> bool:
        return self.confidence >= CONFIDENT

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "grade": self.grade.value, "confidence": round(self.confidence, 3),
                "grade_confidence": round(self.grade_confidence, 3), "confident": self.confident,
                "top": [{"category": c, "p": round(p, 3)} for c, p in self.top]}


@dataclass(frozen=True)
class Example:
    text: str
    category: str
    grade: str


def _data(name: str) -> Any:
    return resources.files("plantguard.hazards").joinpath("data", name)


def load_examples() -> list[Example]:
    """The labelled set; refuses unknown categories or grades so a typo cannot train a ghost class."""
    raw = yaml.safe_load(_data(TRAINING_FILE).read_text(encoding="utf-8"))
    out: list[Example] = []
    for category, grades in raw["categories"].items():
        if category not in CATEGORIES:
            raise ValueError(f"{TRAINING_FILE}: unknown category {category!r}")
        for grade, texts in grades.items():
            if grade not in {g.value for g in HazardGrade}:
                raise ValueError(f"{TRAINING_FILE}: unknown grade {grade!r} under {category}")
            out.extend(Example(str(t), category, grade) for t in texts or [])
    return out


def _jieba() -> Any:
    """One jieba tokenizer with the domain dictionary, built once under a lock (jieba's own
    lazy initialisation is not meant to race, and loading the dictionary takes ~1 s)."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                with resources.as_file(_data(DICT_FILE)) as path:
                    tok.load_userdict(str(path))
                _tokenizer = tok
    return _tokenizer


def tokens(text: str) -> list[str]:
    """jieba words without punctuation, spaces or bare numbers (equipment numbers say nothing
    about the kind of hazard)."""
    return [w for w in _jieba().lcut(text[:MAX_CHARS]) if _WORD.search(w) and not w.isdigit()]


def _pipeline(balanced: bool) -> Pipeline:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    features = make_union(TfidfVectorizer(analyzer=tokens, sublinear_tf=True),
                          TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True))
    return make_pipeline(features, LogisticRegression(C=10, solver="newton-cg", max_iter=500,
                                                      class_weight="balanced" if balanced else None))


def train(examples: Sequence[Example]) -> tuple[Pipeline, Pipeline]:
    """(category model, grade model) fitted on ``examples``."""
    from threadpoolctl import threadpool_limits

    texts = [e.text for e in examples]
    # One BLAS thread: the matrices are small and a server's other threads are busy; the
    # default thread pool made fitting ~10x slower on a loaded 2-core machine.
    with threadpool_limits(1):
        category = _pipeline(balanced=False).fit(texts, [e.category for e in examples])
        grade = _pipeline(balanced=True).fit(texts, [e.grade for e in examples])
    return category, grade


def split(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """The fixed (seeded, stratified by category and grade) train/test split."""
    from sklearn.model_selection import train_test_split

    strata = [f"{e.category}/{e.grade}" for e in examples]
    tr, te = train_test_split(list(examples), test_size=TEST_SIZE, random_state=SEED, stratify=strata)
    return list(tr), list(te)


def _models_ready() -> tuple[Pipeline, Pipeline]:
    global _models
    if _models is None:
        examples = load_examples()
        _jieba()  # outside the lock below: _jieba takes it itself
        with _lock:
            if _models is None:
                _models = train(examples)
    return _models


def predict(models: tuple[Pipeline, Pipeline], text: str) -> Suggestion:
    from threadpoolctl import threadpool_limits

    category_model, grade_model = models
    text = text.strip()[:MAX_CHARS]
    with threadpool_limits(1):
        probs = category_model.predict_proba([text])[0]
        gprobs = grade_model.predict_proba([text])[0]
    ranked = sorted(zip(category_model.classes_, probs, strict=True), key=lambda cp: -cp[1])
    g_best = max(zip(grade_model.classes_, gprobs, strict=True), key=lambda gp: gp[1])
    return Suggestion(category=str(ranked[0][0]), confidence=float(ranked[0][1]),
                      grade=HazardGrade(str(g_best[0])), grade_confidence=float(g_best[1]),
                      top=[(str(c), float(p)) for c, p in ranked[:TOP_N]])


def suggest(text: str) -> Suggestion | None:
    """The suggested category and grade for ``text``; None when there is nothing to go on
    (empty or no word characters), so callers never show a guess made from nothing."""
    if not _WORD.search(text or ""):
        return None
    return predict(_models_ready(), text)


def warm_up() -> None:
    """Train now (e.g. in a background thread at start-up) so the first reporter doesn't wait."""
    _models_ready()


def evaluate() -> dict[str, Any]:
    """Train on the fixed split's training part and score the held-out part."""
    from sklearn.metrics import confusion_matrix

    examples = load_examples()
    train_part, test_part = split(examples)
    models = train(train_part)
    results = [predict(models, e.text) for e in test_part]
    n = len(test_part)
    cat_ok = sum(r.category == e.category for r, e in zip(results, test_part, strict=True))
    grade_ok = sum(r.grade == e.grade for r, e in zip(results, test_part, strict=True))
    majors = [(r, e) for r, e in zip(results, test_part, strict=True) if e.grade == HazardGrade.MAJOR]
    flagged = [(r, e) for r, e in zip(results, test_part, strict=True) if r.grade == HazardGrade.MAJOR]
    confident = [(r, e) for r, e in zip(results, test_part, strict=True) if r.confident]
    labels = list(CATEGORIES)
    matrix = confusion_matrix([e.category for e in test_part], [r.category for r in results], labels=labels)

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    return {
        "data": f"plantguard/hazards/data/{TRAINING_FILE}", "examples": len(examples),
        "train": len(train_part), "test": n, "seed": SEED, "test_size": TEST_SIZE,
        "model": "TF-IDF(jieba words + domain dictionary) ∪ TF-IDF(char 1-3) → LogisticRegression(C=10); "
                 "grade: same features, class_weight=balanced",
        "category_accuracy": ratio(cat_ok, n),
        "category_top3_accuracy": ratio(sum(e.category in [c for c, _ in r.top] for r, e in
                                            zip(results, test_part, strict=True)), n),
        "grade_accuracy": ratio(grade_ok, n),
        "major_recall": ratio(sum(r.grade == HazardGrade.MAJOR for r, _ in majors), len(majors)),
        "major_precision": ratio(sum(e.grade == HazardGrade.MAJOR for _, e in flagged), len(flagged)),
        "major_in_test": len(majors),
        "confident_threshold": CONFIDENT,
        "confident_share": ratio(len(confident), n),
        "confident_category_accuracy": ratio(sum(r.category == e.category for r, e in confident), len(confident)),
        "confusion": {"labels": labels, "matrix": matrix.tolist()},
    }
