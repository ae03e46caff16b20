"""Edge mode: PlantGuard's connectors and detectors on a small box beside the machines, with no
web server and no database, forwarding readings and alarm signals upstream (MQTT or HTTP)
through a durable store-and-forward buffer. See docs/edge.md.

Nothing in this package may import the web stack or SQLAlchemy (tests/edge/test_imports.py).
"""
