"""Sensing: connectors, the coordinator that runs them, validation, the durable buffer."""
