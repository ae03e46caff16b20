"""Logging set-up shared by the long-running commands (server, ingest worker, simulator)."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# asyncua logs every subscription publish at INFO (a screenful per second with the demo plant);
# pymodbus and the MQTT/NATS clients are chatty too, and SpiffWorkflow logs every task state
# change of a permit approval. Their warnings and errors still show.
CHATTY = ("asyncua", "pymodbus", "paho", "aiomqtt", "nats", "spiff")


def configure(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format=FORMAT)
    for name in CHATTY:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
