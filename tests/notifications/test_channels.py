"""Each channel against a real local receiver: exact payloads and signatures recomputed from
the vendors' documented algorithms."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse

import pytest

from plantguard.notifications.channels import ChannelConfig, DeliveryError, OutMessage
from plantguard.notifications.channels.dingtalk import DingTalkChannel
from plantguard.notifications.channels.email import EmailChannel
from plantguard.notifications.channels.feishu import FeishuChannel
from plantguard.notifications.channels.wecom import WeComChannel
from tests.notifications.conftest import Mailbox, Receiver

MSG = OutMessage(title="报警：1号压力机液压压力过高", body="严重程度：重大\n设备：EQ-1 1号压力机",
                 link="http://pg.local/alarms/7", level="重大", locale="zh_CN", link_label="打开")


def test_wecom_markdown_exact_payload(receiver: Receiver) -> None:
    WeComChannel(ChannelConfig({"url": f"{receiver.url}/cgi-bin/webhook/send?key=K1"})).send(MSG)
    (hit,) = receiver.hits
    assert hit.path == "/cgi-bin/webhook/send?key=K1"
    assert hit.headers["Content-Type"].startswith("application/json")
    assert hit.body == {"msgtype": "markdown", "markdown": {"content": (
        "**报警：1号压力机液压压力过高**\n\n> 重大\n\n严重程度：重大\n\n设备：EQ-1 1号压力机\n\n"
        "[打开](http://pg.local/alarms/7)")}}


def test_wecom_text_with_mentions_and_refusal(receiver: Receiver) -> None:
    msg = OutMessage(title="T", body="b", mobiles=("13800000000",))
    WeComChannel(ChannelConfig({"url": receiver.url + "/send"})).send(msg)
    assert receiver.hits[0].body == {"msgtype": "text", "text": {"content": "T\nb",
                                                                 "mentioned_mobile_list": ["13800000000"]}}
    receiver.answer = {"errcode": 93000, "errmsg": "invalid webhook url"}
    with pytest.raises(DeliveryError) as err:
        WeComChannel(ChannelConfig({"url": receiver.url + "/send"})).send(msg)
    assert err.value.permanent


def test_dingtalk_signature_and_markdown(receiver: Receiver) -> None:
    secret = "SEC0123456789abcdef"
    ts = 1764316800123
    ch = DingTalkChannel(ChannelConfig({"url": f"{receiver.url}/robot/send?access_token=TOK"}, secret),
                         clock_ms=lambda: ts)
    ch.send(OutMessage(title="T 标题", body="line", link="http://x/a/1", level="Major", mobiles=("13900000000",),
                       link_label="Open"))
    (hit,) = receiver.hits
    path, _, query = hit.path.partition("?")
    assert path == "/robot/send"
    q = urllib.parse.parse_qs(query)
    assert q["access_token"] == ["TOK"] and q["timestamp"] == [str(ts)]
    # DingTalk: HMAC-SHA256 keyed with the secret over "timestamp\nsecret", base64, then URL-encoded.
    expected = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest())
    assert q["sign"] == [expected.decode()]  # parse_qs undoes the URL encoding
    assert f"sign={urllib.parse.quote_plus(expected.decode())}" in query
    assert hit.body == {"msgtype": "markdown",
                        "markdown": {"title": "T 标题",
                                     "text": "**T 标题**\n\n> Major\n\nline\n\n[Open](http://x/a/1)\n\n@13900000000"},
                        "at": {"atMobiles": ["13900000000"], "isAtAll": False}}


def test_feishu_signature_and_post(receiver: Receiver) -> None:
    receiver.answer = {"code": 0, "msg": "success"}
    secret = "feishu-secret"
    ts = 1764316800
    FeishuChannel(ChannelConfig({"url": f"{receiver.url}/open-apis/bot/v2/hook/abc"}, secret),
                  clock_s=lambda: ts).send(MSG)
    (hit,) = receiver.hits
    assert hit.path == "/open-apis/bot/v2/hook/abc"
    # Feishu: HMAC-SHA256 keyed with "timestamp\nsecret" over an empty message, base64.
    expected = base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
    assert hit.body == {
        "timestamp": str(ts), "sign": expected, "msg_type": "post",
        "content": {"post": {"zh_cn": {"title": MSG.title, "content": [
            [{"tag": "text", "text": "重大"}], [{"tag": "text", "text": "严重程度：重大"}],
            [{"tag": "text", "text": "设备：EQ-1 1号压力机"}],
            [{"tag": "a", "text": "打开", "href": "http://pg.local/alarms/7"}]]}}}}
    receiver.answer = {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}
    with pytest.raises(DeliveryError, match="19021"):
        FeishuChannel(ChannelConfig({"url": receiver.url + "/h"}, secret)).send(MSG)


def test_email_utf8_subject_and_recipients(smtp: Mailbox) -> None:
    ch = EmailChannel(ChannelConfig({"host": smtp.host, "port": smtp.port, "security": "none",
                                     "sender": "alerts@plant.example", "sender_name": "PlantGuard 安全"}))
    ch.send(OutMessage(title=MSG.title, body=MSG.body, link=MSG.link, level="重大", to="zhang@plant.example",
                       link_label="打开"))
    ((mail_from, rcpt, msg),) = smtp.messages
    assert mail_from == "alerts@plant.example" and rcpt == ["zhang@plant.example"]
    assert msg["Subject"] == "[重大] 报警：1号压力机液压压力过高"
    assert "=?utf-8?" in msg.as_string().split("Subject:", 1)[1].splitlines()[0].lower()  # RFC 2047 on the wire
    assert msg["To"] == "zhang@plant.example" and "alerts@plant.example" in msg["From"]
    body = msg.get_content()
    assert "设备：EQ-1 1号压力机" in body and "打开: http://pg.local/alarms/7" in body


def test_email_server_down_is_retryable() -> None:
    ch = EmailChannel(ChannelConfig({"host": "127.0.0.1", "port": 1, "security": "none", "sender": "a@b.c"}))
    with pytest.raises(DeliveryError) as err:
        ch.send(OutMessage(title="t", body="b", to="x@y.z"))
    assert not err.value.permanent


def test_webhook_503_is_retryable_and_404_permanent(receiver: Receiver) -> None:
    receiver.fail_next = 1
    with pytest.raises(DeliveryError) as err:
        WeComChannel(ChannelConfig({"url": receiver.url})).send(MSG)
    assert not err.value.permanent and "503" in str(err.value)
