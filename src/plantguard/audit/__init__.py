"""Append-only, hash-chained change ledger (变更记录) fed by every service-layer write."""
