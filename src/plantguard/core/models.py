"""Import every model module so that ``Base.metadata`` is complete (migrations, tests)."""

from __future__ import annotations


def import_all() -> None:
    import plantguard.assets.models
    import plantguard.audit.models
    import plantguard.events.models
    import plantguard.tenancy.models  # noqa: F401
