"""detection rules

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plantguard.core.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('detection_rule',
    sa.Column('id', PK, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('severity', sa.String(length=20), nullable=False),
    sa.Column('point_id', PK, nullable=True),
    sa.Column('equipment_id', PK, nullable=True),
    sa.Column('condition', JSON, nullable=False),
    sa.Column('overrides', JSON, nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.Column('created_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(point_id IS NULL) <> (equipment_id IS NULL)', name=op.f('ck_detection_rule_one_scope')),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_detection_rule_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_detection_rule_equipment_id_equipment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['point_id'], ['measurement_point.id'], name=op.f('fk_detection_rule_point_id_measurement_point'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_detection_rule')),
    sa.UniqueConstraint('enterprise_id', 'name', name=op.f('uq_detection_rule_enterprise_id_name'))
    )
    with op.batch_alter_table('detection_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_detection_rule_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_detection_rule_equipment_id'), ['equipment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_detection_rule_point_id'), ['point_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('detection_rule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_detection_rule_point_id'))
        batch_op.drop_index(batch_op.f('ix_detection_rule_equipment_id'))
        batch_op.drop_index(batch_op.f('ix_detection_rule_enterprise_id'))

    op.drop_table('detection_rule')
