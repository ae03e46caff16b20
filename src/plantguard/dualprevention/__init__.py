"""Dual prevention (双重预防) dashboards: KPIs over hazards and inspections, list exports."""
