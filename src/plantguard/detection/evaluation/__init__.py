"""Evaluation of detectors against public benchmarks under their official protocols."""
