"""Modbus TCP."""
