"""The ledger records every write made through a session, and verification finds every
kind of tampering done directly in the database."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, select, text

from plantguard.assets.models import Equipment
from plantguard.audit.ledger import bind_actor
from plantguard.audit.models import AuditEntry, AuditHead
from plantguard.audit.verify import verify
from plantguard.core.context import request_id_var
from plantguard.core.permissions import Actor, Role
from plantguard.events.models import OutboxMessage
from tests.conftest import Db
from tests.factories import make_tenant


def _actor(enterprise_id: int) -> Actor:
    return Actor(user_id=7, enterprise_id=enterprise_id, role=Role.SAFETY_MANAGER, username="safety")


def _tamper(db: Db, sql: str, **params: object) -> None:
    """Change the table behind PlantGuard's back, past the append-only trigger."""
    with db.engine.begin() as conn:
        _without_triggers(conn, db.backend, sql, params)


def _without_triggers(conn: Connection, backend: str, sql: str, params: dict[str, object]) -> None:
    if backend == "postgres":
        conn.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
        conn.execute(text(sql), params)
        conn.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER USER"))
    else:
        conn.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_update"))
        conn.execute(text("DROP TRIGGER IF EXISTS audit_entry_no_delete"))
        conn.execute(text(sql), params)


@pytest.fixture
def seeded(db: Db) -> Db:
    t = make_tenant(db.factory, "E1")
    with db.factory() as s:
        bind_actor(s, _actor(t.enterprise_id))
        eq = s.get(Equipment, t.equipment_id)
        assert eq is not None
        for i in range(3):
            eq.name = f"压力机 v{i}"
            s.flush()
        s.commit()
    return db


def test_every_change_is_recorded_with_actor_request_and_snapshots(db: Db) -> None:
    t = make_tenant(db.factory, "E1")
    token = request_id_var.set("req-123")
    try:
        with db.factory() as s:
            bind_actor(s, _actor(t.enterprise_id))
            eq = s.get(Equipment, t.equipment_id)
            assert eq is not None
            eq.status = "maintenance"
            s.commit()
            s.delete(eq)
            s.commit()
    finally:
        request_id_var.reset(token)
    with db.factory() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.entity_type == "equipment",
                                                  AuditEntry.entity_id == t.equipment_id)
                         .order_by(AuditEntry.seq)).all()
        assert [r.action for r in rows] == ["create", "update", "delete"]
        create, update, delete = rows
        assert create.actor_name == "system" and create.before is None and create.after["code"] == "EQ-1"
        assert update.actor_id == 7 and update.request_id == "req-123"
        assert update.before["status"] == "in_service" and update.after["status"] == "maintenance"
        assert delete.before["status"] == "maintenance" and delete.after is None
        # Each entry went out as an event in the same transaction.
        events = s.scalars(select(OutboxMessage).where(OutboxMessage.event_type == "entity.changed")).all()
        assert any(e.envelope["payload"]["entity_id"] == t.equipment_id
                   and e.envelope["payload"]["action"] == "update"
                   and e.envelope["payload"]["changed"] == ["status"]
                   and e.envelope["context"]["user_id"] == 7 for e in events)
        assert verify(s).ok


def test_rolled_back_change_leaves_no_entry(db: Db) -> None:
    t = make_tenant(db.factory, "E1")
    with db.factory() as s:
        before = s.scalar(select(AuditHead.seq).where(AuditHead.enterprise_id == t.enterprise_id))
        bind_actor(s, _actor(t.enterprise_id))
        eq = s.get(Equipment, t.equipment_id)
        assert eq is not None
        eq.name = "never"
        s.flush()
        s.rollback()
        assert s.scalar(select(AuditHead.seq).where(AuditHead.enterprise_id == t.enterprise_id)) == before


def test_no_op_update_is_not_recorded(db: Db) -> None:
    t = make_tenant(db.factory, "E1")
    with db.factory() as s:
        n = s.scalar(select(AuditHead.seq))
        eq = s.get(Equipment, t.equipment_id)
        assert eq is not None
        eq.name = eq.name
        s.commit()
        assert s.scalar(select(AuditHead.seq)) == n


def test_the_database_refuses_updates_and_deletes(seeded: Db) -> None:
    with seeded.engine.connect() as conn:
        with pytest.raises(Exception, match="append-only"):
            conn.execute(text("UPDATE audit_entry SET actor_name = 'x'"))
        conn.rollback()
        with pytest.raises(Exception, match="append-only"):
            conn.execute(text("DELETE FROM audit_entry"))
        conn.rollback()


def test_intact_ledger_verifies(seeded: Db) -> None:
    with seeded.factory() as s:
        report = verify(s)
    assert report.ok and report.checked >= 12


def _bad(db: Db) -> str:
    with db.factory() as s:
        report = verify(s)
    assert not report.ok
    return str(report.problem)


def test_edited_entry_is_detected(seeded: Db) -> None:
    _tamper(seeded, "UPDATE audit_entry SET actor_name = 'mallory' WHERE seq = 5")
    assert "seq=5" in _bad(seeded) and "hash" in _bad(seeded)


def test_edited_snapshot_is_detected(seeded: Db) -> None:
    with seeded.factory() as s:
        e = s.scalars(select(AuditEntry).where(AuditEntry.action == "update")).first()
        assert e is not None
        seq = e.seq
    patched = '{"name": "forged"}'
    _tamper(seeded, "UPDATE audit_entry SET after = :a WHERE seq = :s", a=patched, s=seq)
    assert f"seq={seq}" in _bad(seeded)


def test_deleted_entry_is_detected(seeded: Db) -> None:
    _tamper(seeded, "DELETE FROM audit_entry WHERE seq = 4")
    assert "seq=5" in _bad(seeded)


def test_deleted_last_entry_is_detected(seeded: Db) -> None:
    _tamper(seeded, "DELETE FROM audit_entry WHERE seq = (SELECT MAX(seq) FROM audit_entry)")
    assert "head" in _bad(seeded)


def test_inserted_entry_is_detected(seeded: Db) -> None:
    with seeded.factory() as s:
        e = s.scalars(select(AuditEntry).where(AuditEntry.seq == 3)).one()
        cols = {c.key: getattr(e, c.key) for c in AuditEntry.__table__.columns if c.key != "id"}
    # A forged copy of entry 3 squeezed in as a new row, renumbering nothing.
    with seeded.engine.begin() as conn:
        conn.execute(AuditEntry.__table__.insert(), [{**cols, "seq": 99, "actor_name": "mallory"}])
    assert "seq=99" in _bad(seeded)


def test_reordered_entries_are_detected(seeded: Db) -> None:
    # Swap the sequence numbers of two entries: each still hashes, but the chain breaks.
    _tamper(seeded, "UPDATE audit_entry SET seq = -1 WHERE seq = 6")
    _tamper(seeded, "UPDATE audit_entry SET seq = 6 WHERE seq = 7")
    _tamper(seeded, "UPDATE audit_entry SET seq = 7 WHERE seq = -1")
    assert "seq=" in _bad(seeded)


def test_chains_are_per_enterprise(db: Db) -> None:
    a = make_tenant(db.factory, "E1")
    b = make_tenant(db.factory, "E2")
    with db.factory() as s:
        heads = {h.enterprise_id: h.seq for h in s.scalars(select(AuditHead))}
        assert heads[a.enterprise_id] == heads[b.enterprise_id] > 5
        assert verify(s, a.enterprise_id).ok
