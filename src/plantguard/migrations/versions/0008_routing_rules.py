"""routing rules: versioned rule sets per enterprise

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 17:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plantguard.core.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('routing_rule_set',
    sa.Column('id', PK, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('spec', JSON, nullable=False),
    sa.Column('comment', sa.String(length=300), nullable=False),
    sa.Column('author_id', PK, nullable=True),
    sa.Column('author', sa.String(length=80), nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.Column('created_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['app_user.id'], name=op.f('fk_routing_rule_set_author_id_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_routing_rule_set_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_rule_set')),
    sa.UniqueConstraint('enterprise_id', 'version', name=op.f('uq_routing_rule_set_enterprise_id_version'))
    )
    with op.batch_alter_table('routing_rule_set', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routing_rule_set_enterprise_id'), ['enterprise_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('routing_rule_set', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routing_rule_set_enterprise_id'))

    op.drop_table('routing_rule_set')
