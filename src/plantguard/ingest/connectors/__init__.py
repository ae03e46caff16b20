"""Built-in connectors, one folder per protocol, each with a ``manifest.py``."""
