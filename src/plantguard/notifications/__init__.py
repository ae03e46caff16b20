"""Notifications (issue 5, point 3): events → messages on in-app, WeCom, DingTalk, Feishu and
email, with targeting, preferences, quiet hours, throttling, retries and a dead letter.
See docs/notifications.md."""
