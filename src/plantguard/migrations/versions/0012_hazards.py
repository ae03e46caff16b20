"""hazards (hazard register, history, evidence, deadlines, grading criteria)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plantguard.core.db

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('hazard_deadline_config',
    sa.Column('id', PK, nullable=False),
    sa.Column('immediate_hours', PK, nullable=False),
    sa.Column('general_days', PK, nullable=False),
    sa.Column('major_days', PK, nullable=False),
    sa.Column('escalate_every_hours', PK, nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.Column('created_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_hazard_deadline_config_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hazard_deadline_config')),
    sa.UniqueConstraint('enterprise_id', name=op.f('uq_hazard_deadline_config_enterprise_id'))
    )
    op.create_index(op.f('ix_hazard_deadline_config_enterprise_id'), 'hazard_deadline_config', ['enterprise_id'], unique=False)
    op.create_table('hazard',
    sa.Column('id', PK, nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('area_id', PK, nullable=False),
    sa.Column('equipment_id', PK, nullable=True),
    sa.Column('risk_point_id', PK, nullable=True),
    sa.Column('location', sa.String(length=300), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('category', sa.String(length=40), nullable=True),
    sa.Column('grade', sa.String(length=10), nullable=True),
    sa.Column('grade_basis', JSON, nullable=False),
    sa.Column('grade_basis_text', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('source_ref', sa.String(length=200), nullable=False),
    sa.Column('reporter_id', PK, nullable=True),
    sa.Column('reported_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('suggested_category', sa.String(length=40), nullable=True),
    sa.Column('suggested_grade', sa.String(length=10), nullable=True),
    sa.Column('suggestion_confidence', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('treatment', sa.String(length=12), nullable=False),
    sa.Column('deadline_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('responsible_id', PK, nullable=True),
    sa.Column('measures', sa.Text(), nullable=False),
    sa.Column('funds', sa.String(length=200), nullable=False),
    sa.Column('plan_deadline_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('emergency_plan', sa.Text(), nullable=False),
    sa.Column('rectified_by', JSON, nullable=False),
    sa.Column('treatment_started_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('submitted_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_by', PK, nullable=True),
    sa.Column('accepted_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by', PK, nullable=True),
    sa.Column('closed_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reject_reason', sa.String(length=500), nullable=False),
    sa.Column('overdue_work_order_id', PK, nullable=True),
    sa.Column('escalation_level', PK, nullable=False),
    sa.Column('last_escalated_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('context_id', sa.String(length=32), nullable=False),
    sa.Column('client_key', sa.String(length=64), nullable=True),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.Column('created_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['accepted_by'], ['app_user.id'], name=op.f('fk_hazard_accepted_by_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['area_id'], ['area.id'], name=op.f('fk_hazard_area_id_area'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['risk_point_id'], ['risk_point.id'], name=op.f('fk_hazard_risk_point_id_risk_point'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['closed_by'], ['app_user.id'], name=op.f('fk_hazard_closed_by_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_hazard_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_hazard_equipment_id_equipment'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['overdue_work_order_id'], ['work_order.id'], name=op.f('fk_hazard_overdue_work_order_id_work_order'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reporter_id'], ['app_user.id'], name=op.f('fk_hazard_reporter_id_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['responsible_id'], ['app_user.id'], name=op.f('fk_hazard_responsible_id_app_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hazard')),
    sa.UniqueConstraint('enterprise_id', 'client_key', name=op.f('uq_hazard_enterprise_id_client_key')),
    sa.UniqueConstraint('enterprise_id', 'number', name=op.f('uq_hazard_enterprise_id_number'))
    )
    op.create_index(op.f('ix_hazard_area_id'), 'hazard', ['area_id'], unique=False)
    op.create_index('ix_hazard_ent_status', 'hazard', ['enterprise_id', 'status'], unique=False)
    op.create_index(op.f('ix_hazard_enterprise_id'), 'hazard', ['enterprise_id'], unique=False)
    op.create_index(op.f('ix_hazard_risk_point_id'), 'hazard', ['risk_point_id'], unique=False)
    op.create_table('hazard_attachment',
    sa.Column('id', PK, nullable=False),
    sa.Column('hazard_id', PK, nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('stored_name', sa.String(length=80), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('size', PK, nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('original_sha256', sa.String(length=64), nullable=False),
    sa.Column('stamped', sa.Boolean(), nullable=False),
    sa.Column('uploaded_by', PK, nullable=True),
    sa.Column('uploaded_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_hazard_attachment_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazard.id'], name=op.f('fk_hazard_attachment_hazard_id_hazard'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by'], ['app_user.id'], name=op.f('fk_hazard_attachment_uploaded_by_app_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hazard_attachment'))
    )
    op.create_index(op.f('ix_hazard_attachment_enterprise_id'), 'hazard_attachment', ['enterprise_id'], unique=False)
    op.create_index(op.f('ix_hazard_attachment_hazard_id'), 'hazard_attachment', ['hazard_id'], unique=False)
    op.create_table('hazard_event',
    sa.Column('id', PK, nullable=False),
    sa.Column('hazard_id', PK, nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('user_id', PK, nullable=True),
    sa.Column('actor_name', sa.String(length=200), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('status_from', sa.String(length=24), nullable=True),
    sa.Column('status_to', sa.String(length=24), nullable=True),
    sa.Column('detail', JSON, nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_hazard_event_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazard.id'], name=op.f('fk_hazard_event_hazard_id_hazard'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_hazard_event_user_id_app_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hazard_event'))
    )
    op.create_index(op.f('ix_hazard_event_enterprise_id'), 'hazard_event', ['enterprise_id'], unique=False)
    op.create_index('ix_hazard_event_hazard', 'hazard_event', ['hazard_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_hazard_event_hazard', table_name='hazard_event')
    op.drop_index(op.f('ix_hazard_event_enterprise_id'), table_name='hazard_event')
    op.drop_table('hazard_event')
    op.drop_index(op.f('ix_hazard_attachment_hazard_id'), table_name='hazard_attachment')
    op.drop_index(op.f('ix_hazard_attachment_enterprise_id'), table_name='hazard_attachment')
    op.drop_table('hazard_attachment')
    op.drop_index(op.f('ix_hazard_risk_point_id'), table_name='hazard')
    op.drop_index(op.f('ix_hazard_enterprise_id'), table_name='hazard')
    op.drop_index('ix_hazard_ent_status', table_name='hazard')
    op.drop_index(op.f('ix_hazard_area_id'), table_name='hazard')
    op.drop_table('hazard')
    op.drop_index(op.f('ix_hazard_deadline_config_enterprise_id'), table_name='hazard_deadline_config')
    op.drop_table('hazard_deadline_config')
