"""HTTP ingest: devices post batches to PlantGuard's own API."""
