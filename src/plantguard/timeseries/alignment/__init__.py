"""Alignment: PLC events, MES work-order phases, people's zone entries and ambient readings,
joined as of any moment, and the phase-risk report built on that join."""
