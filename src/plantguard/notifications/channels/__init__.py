"""Outgoing channels, one module each, behind :class:`~.base.Channel`."""

from __future__ import annotations

from plantguard.notifications.channels.base import Channel, ChannelConfig, DeliveryError, OutMessage
from plantguard.notifications.channels.dingtalk import DingTalkChannel
from plantguard.notifications.channels.email import EmailChannel
from plantguard.notifications.channels.feishu import FeishuChannel
from plantguard.notifications.channels.inapp import InAppChannel
from plantguard.notifications.channels.wecom import WeComChannel

CHANNELS: dict[str, type[Channel]] = {
    "inapp": InAppChannel,
    "email": EmailChannel,
    "wecom": WeComChannel,
    "dingtalk": DingTalkChannel,
    "feishu": FeishuChannel,
}


def channel_for(kind: str, config: ChannelConfig) -> Channel:
    try:
        return CHANNELS[kind](config)
    except KeyError:
        raise DeliveryError(f"unknown channel kind {kind!r}", permanent=True) from None


__all__ = ["CHANNELS", "Channel", "ChannelConfig", "DeliveryError", "OutMessage", "channel_for"]
