"""workorders: work_order_client_action (idempotent replay of the phone app's queued steps)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plantguard.core.db

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('work_order_client_action',
    sa.Column('id', PK, nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('user_id', PK, nullable=True),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('work_order_id', PK, nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', JSON, nullable=False),
    sa.Column('at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_work_order_client_action_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_work_order_client_action_user_id_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_order.id'], name=op.f('fk_work_order_client_action_work_order_id_work_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order_client_action')),
    sa.UniqueConstraint('enterprise_id', 'key', name=op.f('uq_work_order_client_action_enterprise_id_key'))
    )
    with op.batch_alter_table('work_order_client_action', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_order_client_action_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_order_client_action_work_order_id'), ['work_order_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('work_order_client_action', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_order_client_action_work_order_id'))
        batch_op.drop_index(batch_op.f('ix_work_order_client_action_enterprise_id'))

    op.drop_table('work_order_client_action')
