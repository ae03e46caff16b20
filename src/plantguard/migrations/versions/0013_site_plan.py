"""risk: site plans (the four-colour map's background) and their area outlines

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plantguard.core.db

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('site_plan',
    sa.Column('id', PK, nullable=False),
    sa.Column('site_id', PK, nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('size', PK, nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('min_x', sa.Float(), nullable=False),
    sa.Column('min_y', sa.Float(), nullable=False),
    sa.Column('width', sa.Float(), nullable=False),
    sa.Column('height', sa.Float(), nullable=False),
    sa.Column('uploaded_by', PK, nullable=True),
    sa.Column('uploaded_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.Column('created_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_site_plan_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_site_plan_site_id_site'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by'], ['app_user.id'], name=op.f('fk_site_plan_uploaded_by_app_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_site_plan')),
    sa.UniqueConstraint('enterprise_id', 'site_id', name=op.f('uq_site_plan_enterprise_id_site_id'))
    )
    with op.batch_alter_table('site_plan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_site_plan_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_site_plan_site_id'), ['site_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('site_plan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_site_plan_site_id'))
        batch_op.drop_index(batch_op.f('ix_site_plan_enterprise_id'))

    op.drop_table('site_plan')
