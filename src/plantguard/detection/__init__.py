"""Early warning: streaming detectors, alarm filters, evaluation against public benchmarks."""
