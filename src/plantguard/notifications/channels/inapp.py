"""In-app: the ``notification`` row is the feed item, so delivery is writing the row.

The dispatcher never sees in-app rows (they are written ``sent``); this class exists so that
every kind has a Channel and a caller sending one by hand gets a clear no-op.
"""

from __future__ import annotations

from typing import ClassVar

from plantguard.notifications.channels.base import ChannelConfig, OutMessage


class InAppChannel:
    kind: ClassVar[str] = "inapp"

    def __init__(self, config: ChannelConfig) -> None:
        self.config = config

    def send(self, message: OutMessage) -> None:
        return None
