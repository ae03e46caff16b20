"""Which detectors exist, and building one from a name and parameters.

Built-in detectors and those of separate packages register the same way, through the
``plantguard.detectors`` entry-point group, each naming a :class:`Detector` subclass::

    [project.entry-points."plantguard.detectors"]
    robust_z = "plantguard.detection.detectors.robust:RobustZ"

The built-ins are also listed here, so they are available even when the installed package
metadata predates them (an editable install not yet reinstalled).
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

from plantguard.detection.base import Detector
from plantguard.detection.detectors.drift import PageHinkley
from plantguard.detection.detectors.multivariate import Multivariate
from plantguard.detection.detectors.rate import RateOfChange
from plantguard.detection.detectors.robust import Ewma, RobustZ
from plantguard.detection.detectors.threshold import Threshold
from plantguard.detection.detectors.trend import Trend

ENTRY_POINT_GROUP = "plantguard.detectors"
BUILTINS: tuple[type[Detector[Any]], ...] = (
    Threshold, RateOfChange, RobustZ, Ewma, PageHinkley, Trend, Multivariate,
)
log = logging.getLogger(__name__)


class UnknownDetector(LookupError):
    pass


_cache: dict[str, type[Detector[Any]]] | None = None


def available(reload: bool = False) -> dict[str, type[Detector[Any]]]:
    """Every registered detector class by name: the built-ins, then the entry points."""
    global _cache
    if _cache is None or reload:
        found: dict[str, type[Detector[Any]]] = {cls.name: cls for cls in BUILTINS}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                obj = ep.load()
            except Exception:  # one broken plug-in must not take the others down
                log.exception("detector entry point %s could not be loaded", ep.value)
                continue
            if isinstance(obj, type) and issubclass(obj, Detector):
                if ep.name != obj.name:
                    log.warning("detector entry point %s names %s; registered as %s", ep.name, ep.value, obj.name)
                found[obj.name] = obj
            else:
                log.error("detector entry point %s is not a Detector subclass", ep.value)
        _cache = found
    return _cache


def register(cls: type[Detector[Any]]) -> None:
    """Add a detector at run time (tests, embedding); packages should use entry points."""
    available()[cls.name] = cls


def get(name: str, **params: Any) -> Detector[Any]:
    """A new detector; bad parameters raise ``pydantic.ValidationError`` naming the field."""
    try:
        cls = available()[name]
    except KeyError:
        raise UnknownDetector(f"unknown detector {name!r}; available: {sorted(available())}") from None
    return cls(**params)
