"""The built-in detectors, registered in pyproject under the ``plantguard.detectors`` entry points."""
