"""The demo plant that ``make run`` seeds: a vehicle-parts plant (stamping, welding and painting
lines) with its areas, equipment ledger, measurement points, teams, people and demo accounts.

The data lives in ``plant.yaml``; :func:`plantguard.demo.seed.seed_demo` writes it into an
empty database (and does nothing if the demo enterprise already exists). Demo accounts exist
only in this data, never in a production install.
"""
