"""Custom line protocols: text lines over TCP, parsed by per-device rules (ingest/rules.py)."""
