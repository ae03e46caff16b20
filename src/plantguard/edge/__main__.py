"""``python -m plantguard.edge --config edge.yaml``."""

from plantguard.edge.cli import main

main()
