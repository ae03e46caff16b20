"""Readings storage: raw values, rollups, last values, range queries, alignment."""
