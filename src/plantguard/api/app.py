"""The application factory: API, web console, bus and outbox relay in one process.

The same factory serves the split deployment (stateless web servers against PostgreSQL
and NATS): only the settings differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from plantguard import __version__
from plantguard.api import errors
from plantguard.api.middleware import RequestContextMiddleware
from plantguard.api.runtime import Runtime
from plantguard.audit import ledger
from plantguard.core.models import import_all
from plantguard.core.settings import Settings, get_settings
from plantguard.events.bus import make_bus
from plantguard.events.leader import lock_for, relay_when_leader
from plantguard.events.relay import OutboxRelay, pending_count, prune_published

log = logging.getLogger("plantguard")


def api_router() -> APIRouter:
    from plantguard.assets.api import router as assets
    from plantguard.audit.api import router as audit
    from plantguard.detection.alarms.api import router as alarms
    from plantguard.detection.rules.api import router as detection_rules
    from plantguard.ingest.api import router as devices
    from plantguard.ingest.connectors.opcua.discovery_api import router as opcua_discovery
    from plantguard.ingest.http_api import router as ingest
    from plantguard.ingest.rules_api import router as ingest_rules
    from plantguard.notifications.api import router as notifications
    from plantguard.risk.api import router as risk
    from plantguard.tenancy.api import auth_router, users_router
    from plantguard.tenancy.api import router as tenancy
    from plantguard.timeseries.alignment.api import router as alignment
    from plantguard.timeseries.api import router as timeseries
    from plantguard.workorders.api import router as workorders
    from plantguard.workorders.routing.api import router as routing

    api = APIRouter(prefix="/api/v1")
    for r in (auth_router, users_router, assets, tenancy, audit, devices, ingest, ingest_rules, opcua_discovery,
              timeseries, alignment, alarms, detection_rules, workorders, routing, notifications, risk):
        api.include_router(r)
    from plantguard.hazards.api import router as hazards

    api.include_router(hazards)
    from plantguard.inspections.api import router as inspections

    api.include_router(inspections)
    from plantguard.risk.map_api import router as risk_map

    api.include_router(risk_map)
    from plantguard.dualprevention.api import router as dual_prevention

    api.include_router(dual_prevention)
    from plantguard.contractors.api import router as contractors

    api.include_router(contractors)
    from plantguard.permits.api import router as permits

    api.include_router(permits)
    from plantguard.permits.pdf_api import router as permit_pdf

    api.include_router(permit_pdf)
    from plantguard.permits.process_api import router as permit_processes

    api.include_router(permit_processes)
    from plantguard.permits.points_api import router as permit_points

    api.include_router(permit_points)
    return api


OUTBOX_RETENTION = timedelta(days=7)
PRUNE_EVERY_S = 3600.0


async def _prune_outbox(rt: Runtime, stop: asyncio.Event) -> None:
    """Published events are kept a week (for inspection), then deleted; pending ones never."""

    def prune() -> int:
        with rt.factory() as session:
            n = prune_published(session, OUTBOX_RETENTION)
            session.commit()
            return n

    while not stop.is_set():
        try:
            n = await asyncio.to_thread(prune)
            if n:
                log.info("outbox: pruned %d published events older than %s", n, OUTBOX_RETENTION)
        except Exception:  # logged and retried next round; never kills the app
            log.exception("outbox prune failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=PRUNE_EVERY_S)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None,
               start_relay: bool = True) -> FastAPI:
    import_all()
    ledger.install()
    settings = settings or (runtime.settings if runtime else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The runtime (not this closure's settings) is authoritative, so an app object can be
        # started again on another runtime: the test suite reuses apps, because building one's
        # ~300 routes costs about a second of CPU.
        rt: Runtime = app.state.runtime
        settings = rt.settings
        # A few threads run the blocking handlers: more only trade throughput for GIL contention.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        rt.bus = make_bus(settings.bus_url)
        await rt.bus.start()
        stop = asyncio.Event()
        from plantguard.workorders import from_alarms

        await from_alarms.subscribe(rt.bus, rt.factory, rt.read_factory)  # alarm → work order
        from plantguard.notifications import wiring as notifications_wiring

        await notifications_wiring.subscribe(rt.bus, rt.factory)  # events → notification rows
        if start_relay:
            rt.relay = OutboxRelay(rt.factory, rt.bus)
            lock = lock_for(rt.engine, settings.var_dir)
            rt.tasks.append(asyncio.create_task(
                relay_when_leader(rt.relay, lock, stop, settings.relay_interval_s)))
            rt.tasks.append(asyncio.create_task(_prune_outbox(rt, stop)))
            dispatch = notifications_wiring.dispatcher_task(rt.engine, rt.factory, settings.var_dir, stop)
            if dispatch is not None:  # sends pending notifications, in one process
                rt.tasks.append(dispatch)
            from plantguard.detection.alarms.intake import AlarmIntake
            from plantguard.detection.alarms.ticker import tick_interval, tick_when_leader

            if tick_interval() > 0:  # alarm timers and the no-data watchdog, in one process
                rt.tasks.append(asyncio.create_task(tick_when_leader(
                    AlarmIntake(rt.factory), lock_for(rt.engine, settings.var_dir, "alarms"), stop, tick_interval())))
            from plantguard.workorders import escalation

            if escalation.tick_interval() > 0:  # work-order SLA escalation, in one process
                rt.tasks.append(asyncio.create_task(escalation.tick_when_leader(
                    rt.factory, lock_for(rt.engine, settings.var_dir, "workorders"), stop, escalation.tick_interval())))
            from plantguard.hazards import escalation as hazard_escalation

            if hazard_escalation.tick_interval() > 0:  # overdue hazards → work orders, in one process
                rt.tasks.append(asyncio.create_task(hazard_escalation.tick_when_leader(
                    rt.factory, rt.read_factory, lock_for(rt.engine, settings.var_dir, "hazards"), stop,
                    hazard_escalation.tick_interval())))
            from plantguard.inspections import ticker as inspection_ticker

            if inspection_ticker.tick_interval() > 0:  # inspection tasks and missed ones, in one process
                rt.tasks.append(asyncio.create_task(inspection_ticker.tick_when_leader(
                    rt.factory, lock_for(rt.engine, settings.var_dir, "inspections"), stop,
                    inspection_ticker.tick_interval())))
            from plantguard.permits import ticker as permit_ticker

            if permit_ticker.tick_interval() > 0:  # permits past their validity → expired, in one process
                rt.tasks.append(asyncio.create_task(permit_ticker.tick_when_leader(
                    rt.factory, lock_for(rt.engine, settings.var_dir, "permits"), stop, permit_ticker.tick_interval())))
        if settings.warm_up_classifier:
            from plantguard.hazards import classifier

            rt.tasks.append(asyncio.create_task(asyncio.to_thread(classifier.warm_up)))
        if settings.ingest:
            from plantguard.ingest.service import IngestService

            rt.ingest = IngestService(settings, rt.engine, rt.factory)
            rt.tasks.append(asyncio.create_task(rt.ingest.run(stop)))
        try:
            yield
        finally:
            stop.set()
            for task in rt.tasks:
                try:
                    await asyncio.wait_for(task, timeout=5)
                except (TimeoutError, asyncio.CancelledError):
                    task.cancel()
            rt.tasks.clear()
            await rt.bus.close()

    app = FastAPI(
        title="PlantGuard",
        version=__version__,
        description="Safety-production management platform (安全生产管理系统) API",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime or Runtime.build(settings)
    errors.install(app)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(api_router())

    @app.get("/healthz", tags=["health"], summary="Liveness with database and bus checks")
    async def healthz(request: Request) -> Any:
        rt: Runtime = request.app.state.runtime
        db_ok, pending = True, None
        try:
            def check() -> int:
                with rt.read_factory() as s:
                    s.execute(text("SELECT 1"))
                    return pending_count(s)

            pending = await asyncio.to_thread(check)
        except Exception:  # reported, not raised: health must answer
            log.exception("health check: database")
            db_ok = False
        bus_ok = bool(rt.bus is not None and await rt.bus.ping())
        ok = db_ok and bus_ok
        body = {
            "status": "ok" if ok else "degraded",
            "version": __version__,
            "database": {"ok": db_ok, "backend": rt.engine.dialect.name},
            "bus": {"ok": bus_ok, "backend": rt.settings.bus_url.split(":", 1)[0]},
            "outbox_pending": pending,
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    from plantguard.web.views import mount as mount_web

    mount_web(app)
    from plantguard.ingest.connectors.opcua.views import mount as mount_opcua_discovery
    from plantguard.timeseries.alignment.views import mount as mount_alignment
    from plantguard.timeseries.views import mount as mount_timeseries

    mount_opcua_discovery(app)
    mount_timeseries(app)
    mount_alignment(app)
    from plantguard.detection.alarms.views import mount as mount_alarms

    mount_alarms(app)
    from plantguard.detection.rules.views import mount as mount_detection_rules

    mount_detection_rules(app)
    from plantguard.workorders.views import mount as mount_workorders

    mount_workorders(app)
    from plantguard.workorders.mobile import mount as mount_mobile

    mount_mobile(app)
    from plantguard.hazards.mobile import mount as mount_hazard_mobile

    mount_hazard_mobile(app)
    from plantguard.permits.mobile import mount as mount_permit_mobile

    mount_permit_mobile(app)
    from plantguard.workorders.routing.views import mount as mount_routing

    mount_routing(app)
    from plantguard.notifications.views import mount as mount_notifications

    mount_notifications(app)
    from plantguard.hazards.views import mount as mount_hazards

    mount_hazards(app)
    from plantguard.risk.views import mount as mount_risk

    mount_risk(app)
    from plantguard.inspections.views import mount as mount_inspections

    mount_inspections(app)
    from plantguard.risk.map_views import mount as mount_risk_map

    mount_risk_map(app)
    from plantguard.dualprevention.views import mount as mount_dual_prevention

    mount_dual_prevention(app)
    from plantguard.contractors.views import mount as mount_contractors

    mount_contractors(app)
    from plantguard.permits.views import mount as mount_permits

    mount_permits(app)
    return app
