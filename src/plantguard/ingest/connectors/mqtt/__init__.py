"""MQTT: JSON payloads mapped to points by topic pattern and field path, QoS 1, persistent sessions."""
