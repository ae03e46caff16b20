"""Detection rules: which detectors watch which points and equipment, and the streaming stage
that runs them on live readings (see docs/detection-rules.md)."""
