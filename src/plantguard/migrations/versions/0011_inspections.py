"""inspections (checklists, plans, tasks, check-ins, results, QR tags)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plantguard.core.db

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('inspection_plan',
    sa.Column('id', PK, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('frequency', sa.String(length=10), nullable=False),
    sa.Column('assignee_role', sa.String(length=30), nullable=True),
    sa.Column('team_id', PK, nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.Column('created_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_inspection_plan_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_inspection_plan_team_id_team'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_plan'))
    )
    with op.batch_alter_table('inspection_plan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_plan_enterprise_id'), ['enterprise_id'], unique=False)

    op.create_table('inspection_plan_point',
    sa.Column('id', PK, nullable=False),
    sa.Column('plan_id', PK, nullable=False),
    sa.Column('risk_point_id', PK, nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_inspection_plan_point_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['plan_id'], ['inspection_plan.id'], name=op.f('fk_inspection_plan_point_plan_id_inspection_plan'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['risk_point_id'], ['risk_point.id'], name=op.f('fk_inspection_plan_point_risk_point_id_risk_point'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_plan_point')),
    sa.UniqueConstraint('plan_id', 'risk_point_id', name=op.f('uq_inspection_plan_point_plan_id_risk_point_id'))
    )
    with op.batch_alter_table('inspection_plan_point', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_plan_point_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_plan_point_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_plan_point_risk_point_id'), ['risk_point_id'], unique=False)

    op.create_table('inspection_tag',
    sa.Column('id', PK, nullable=False),
    sa.Column('risk_point_id', PK, nullable=False),
    sa.Column('token', sa.String(length=40), nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.Column('created_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_inspection_tag_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['risk_point_id'], ['risk_point.id'], name=op.f('fk_inspection_tag_risk_point_id_risk_point'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_tag')),
    sa.UniqueConstraint('risk_point_id', name=op.f('uq_inspection_tag_risk_point_id')),
    sa.UniqueConstraint('token', name=op.f('uq_inspection_tag_token'))
    )
    with op.batch_alter_table('inspection_tag', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_tag_enterprise_id'), ['enterprise_id'], unique=False)

    op.create_table('inspection_task',
    sa.Column('id', PK, nullable=False),
    sa.Column('plan_id', PK, nullable=False),
    sa.Column('risk_point_id', PK, nullable=False),
    sa.Column('period', sa.String(length=40), nullable=False),
    sa.Column('window_start', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_end', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('assignee_role', sa.String(length=30), nullable=True),
    sa.Column('team_id', PK, nullable=True),
    sa.Column('created_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('done_by', PK, nullable=True),
    sa.Column('missed_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.ForeignKeyConstraint(['done_by'], ['app_user.id'], name=op.f('fk_inspection_task_done_by_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_inspection_task_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['plan_id'], ['inspection_plan.id'], name=op.f('fk_inspection_task_plan_id_inspection_plan'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['risk_point_id'], ['risk_point.id'], name=op.f('fk_inspection_task_risk_point_id_risk_point'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_inspection_task_team_id_team'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_task')),
    sa.UniqueConstraint('plan_id', 'risk_point_id', 'window_start', name=op.f('uq_inspection_task_plan_id_risk_point_id_window_start'))
    )
    with op.batch_alter_table('inspection_task', schema=None) as batch_op:
        batch_op.create_index('ix_inspection_task_ent_status', ['enterprise_id', 'status', 'window_end'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_task_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_task_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_task_risk_point_id'), ['risk_point_id'], unique=False)

    op.create_table('inspection_checkin',
    sa.Column('id', PK, nullable=False),
    sa.Column('task_id', PK, nullable=False),
    sa.Column('risk_point_id', PK, nullable=False),
    sa.Column('user_id', PK, nullable=True),
    sa.Column('at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('token_matched', sa.Boolean(), nullable=False),
    sa.Column('geo_status', sa.String(length=12), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('accuracy_m', sa.Float(), nullable=True),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_inspection_checkin_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['risk_point_id'], ['risk_point.id'], name=op.f('fk_inspection_checkin_risk_point_id_risk_point'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['inspection_task.id'], name=op.f('fk_inspection_checkin_task_id_inspection_task'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_inspection_checkin_user_id_app_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_checkin'))
    )
    with op.batch_alter_table('inspection_checkin', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_checkin_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_checkin_task_id'), ['task_id'], unique=False)

    op.create_table('inspection_client_action',
    sa.Column('id', PK, nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('user_id', PK, nullable=True),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('task_id', PK, nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', JSON, nullable=False),
    sa.Column('at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_inspection_client_action_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['inspection_task.id'], name=op.f('fk_inspection_client_action_task_id_inspection_task'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_inspection_client_action_user_id_app_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_client_action')),
    sa.UniqueConstraint('enterprise_id', 'key', name=op.f('uq_inspection_client_action_enterprise_id_key'))
    )
    with op.batch_alter_table('inspection_client_action', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_client_action_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_client_action_task_id'), ['task_id'], unique=False)

    op.create_table('inspection_photo',
    sa.Column('id', PK, nullable=False),
    sa.Column('task_id', PK, nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('stored_name', sa.String(length=80), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('size', PK, nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by', PK, nullable=True),
    sa.Column('uploaded_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_inspection_photo_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['inspection_task.id'], name=op.f('fk_inspection_photo_task_id_inspection_task'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by'], ['app_user.id'], name=op.f('fk_inspection_photo_uploaded_by_app_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_photo'))
    )
    with op.batch_alter_table('inspection_photo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_photo_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_photo_task_id'), ['task_id'], unique=False)

    op.create_table('inspection_check_item',
    sa.Column('id', PK, nullable=False),
    sa.Column('risk_point_id', PK, nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('measure_id', PK, nullable=True),
    sa.Column('edited', sa.Boolean(), nullable=False),
    sa.Column('removed', sa.Boolean(), nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.Column('created_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_inspection_check_item_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['measure_id'], ['risk_control_measure.id'], name=op.f('fk_inspection_check_item_measure_id_risk_control_measure'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['risk_point_id'], ['risk_point.id'], name=op.f('fk_inspection_check_item_risk_point_id_risk_point'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_check_item'))
    )
    with op.batch_alter_table('inspection_check_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_check_item_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index('ix_inspection_check_item_point', ['risk_point_id', 'position'], unique=False)

    op.create_table('inspection_result',
    sa.Column('id', PK, nullable=False),
    sa.Column('task_id', PK, nullable=False),
    sa.Column('checkin_id', PK, nullable=False),
    sa.Column('item_id', PK, nullable=True),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('photo_id', PK, nullable=True),
    sa.Column('hazard_id', PK, nullable=True),
    sa.Column('user_id', PK, nullable=True),
    sa.Column('at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.ForeignKeyConstraint(['checkin_id'], ['inspection_checkin.id'], name=op.f('fk_inspection_result_checkin_id_inspection_checkin'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_inspection_result_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['inspection_check_item.id'], name=op.f('fk_inspection_result_item_id_inspection_check_item'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['photo_id'], ['inspection_photo.id'], name=op.f('fk_inspection_result_photo_id_inspection_photo'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['inspection_task.id'], name=op.f('fk_inspection_result_task_id_inspection_task'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_inspection_result_user_id_app_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_result')),
    sa.UniqueConstraint('task_id', 'item_id', name=op.f('uq_inspection_result_task_id_item_id'))
    )
    with op.batch_alter_table('inspection_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_result_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_result_task_id'), ['task_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inspection_result', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_result_task_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_result_enterprise_id'))

    op.drop_table('inspection_result')
    with op.batch_alter_table('inspection_check_item', schema=None) as batch_op:
        batch_op.drop_index('ix_inspection_check_item_point')
        batch_op.drop_index(batch_op.f('ix_inspection_check_item_enterprise_id'))

    op.drop_table('inspection_check_item')
    with op.batch_alter_table('inspection_photo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_photo_task_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_photo_enterprise_id'))

    op.drop_table('inspection_photo')
    with op.batch_alter_table('inspection_client_action', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_client_action_task_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_client_action_enterprise_id'))

    op.drop_table('inspection_client_action')
    with op.batch_alter_table('inspection_checkin', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_checkin_task_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_checkin_enterprise_id'))

    op.drop_table('inspection_checkin')
    with op.batch_alter_table('inspection_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_task_risk_point_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_task_plan_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_task_enterprise_id'))
        batch_op.drop_index('ix_inspection_task_ent_status')

    op.drop_table('inspection_task')
    with op.batch_alter_table('inspection_tag', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_tag_enterprise_id'))

    op.drop_table('inspection_tag')
    with op.batch_alter_table('inspection_plan_point', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_plan_point_risk_point_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_plan_point_plan_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_plan_point_enterprise_id'))

    op.drop_table('inspection_plan_point')
    with op.batch_alter_table('inspection_plan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_plan_enterprise_id'))

    op.drop_table('inspection_plan')
