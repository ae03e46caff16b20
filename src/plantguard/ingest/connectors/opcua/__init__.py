"""OPC UA."""
