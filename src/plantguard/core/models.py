"""Import every model module so that ``Base.metadata`` is complete (migrations, tests)."""

from __future__ import annotations


def import_all() -> None:
    import plantguard.assets.models
    import plantguard.audit.models
    import plantguard.contractors.models
    import plantguard.detection.alarms.models
    import plantguard.detection.rules.models
    import plantguard.events.models
    import plantguard.hazards.models
    import plantguard.ingest.models
    import plantguard.inspections.models
    import plantguard.notifications.models
    import plantguard.permits.models
    import plantguard.risk.models
    import plantguard.risk.siteplan_models
    import plantguard.tenancy.models
    import plantguard.timeseries.alignment.models
    import plantguard.timeseries.models
    import plantguard.workorders.models
    import plantguard.workorders.routing.models  # noqa: F401
