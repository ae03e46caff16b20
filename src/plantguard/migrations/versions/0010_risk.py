"""risk register (method versions, risk points, hazard sources, control measures, assessments)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import plantguard.core.db

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('risk_point',
    sa.Column('id', PK, nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('area_id', PK, nullable=False),
    sa.Column('equipment_id', PK, nullable=True),
    sa.Column('job', sa.String(length=200), nullable=False),
    sa.Column('responsible_level', sa.String(length=16), nullable=False),
    sa.Column('responsible_team_id', PK, nullable=True),
    sa.Column('responsible_person_id', PK, nullable=True),
    sa.Column('current_level', sa.String(length=16), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.Column('created_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['area_id'], ['area.id'], name=op.f('fk_risk_point_area_id_area'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_risk_point_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_risk_point_equipment_id_equipment'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['responsible_person_id'], ['person.id'], name=op.f('fk_risk_point_responsible_person_id_person'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['responsible_team_id'], ['team.id'], name=op.f('fk_risk_point_responsible_team_id_team'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_point')),
    sa.UniqueConstraint('enterprise_id', 'code', name=op.f('uq_risk_point_enterprise_id_code'))
    )
    with op.batch_alter_table('risk_point', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_point_area_id'), ['area_id'], unique=False)
        batch_op.create_index('ix_risk_point_ent_level', ['enterprise_id', 'current_level'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_point_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_point_equipment_id'), ['equipment_id'], unique=False)

    op.create_table('risk_hazard_source',
    sa.Column('id', PK, nullable=False),
    sa.Column('risk_point_id', PK, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('consequences', JSON, nullable=False),
    sa.Column('current_level', sa.String(length=16), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.Column('created_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_risk_hazard_source_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['risk_point_id'], ['risk_point.id'], name=op.f('fk_risk_hazard_source_risk_point_id_risk_point'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_hazard_source'))
    )
    with op.batch_alter_table('risk_hazard_source', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_hazard_source_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_hazard_source_risk_point_id'), ['risk_point_id'], unique=False)

    op.create_table('risk_method_version',
    sa.Column('id', PK, nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('variant', sa.String(length=40), nullable=False),
    sa.Column('spec', JSON, nullable=False),
    sa.Column('comment', sa.String(length=300), nullable=False),
    sa.Column('author_id', PK, nullable=True),
    sa.Column('author', sa.String(length=80), nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.Column('created_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['app_user.id'], name=op.f('fk_risk_method_version_author_id_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_risk_method_version_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_method_version')),
    sa.UniqueConstraint('enterprise_id', 'method', 'version', name=op.f('uq_risk_method_version_enterprise_id_method_version'))
    )
    with op.batch_alter_table('risk_method_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_method_version_enterprise_id'), ['enterprise_id'], unique=False)

    op.create_table('risk_assessment',
    sa.Column('id', PK, nullable=False),
    sa.Column('risk_point_id', PK, nullable=False),
    sa.Column('hazard_source_id', PK, nullable=True),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('method_version_id', PK, nullable=False),
    sa.Column('method_version', sa.Integer(), nullable=False),
    sa.Column('inputs', JSON, nullable=False),
    sa.Column('score', sa.Double(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('band', sa.String(length=40), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('assessor_id', PK, nullable=True),
    sa.Column('assessor', sa.String(length=80), nullable=False),
    sa.Column('assessed_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.ForeignKeyConstraint(['assessor_id'], ['app_user.id'], name=op.f('fk_risk_assessment_assessor_id_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_risk_assessment_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['hazard_source_id'], ['risk_hazard_source.id'], name=op.f('fk_risk_assessment_hazard_source_id_risk_hazard_source'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['method_version_id'], ['risk_method_version.id'], name=op.f('fk_risk_assessment_method_version_id_risk_method_version'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['risk_point_id'], ['risk_point.id'], name=op.f('fk_risk_assessment_risk_point_id_risk_point'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_assessment'))
    )
    with op.batch_alter_table('risk_assessment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_assessment_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_assessment_hazard_source_id'), ['hazard_source_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_assessment_method_version_id'), ['method_version_id'], unique=False)
        batch_op.create_index('ix_risk_assessment_point_at', ['risk_point_id', 'assessed_at'], unique=False)

    op.create_table('risk_control_measure',
    sa.Column('id', PK, nullable=False),
    sa.Column('hazard_source_id', PK, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('enterprise_id', PK, nullable=False),
    sa.Column('created_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', plantguard.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id'], name=op.f('fk_risk_control_measure_enterprise_id_enterprise'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['hazard_source_id'], ['risk_hazard_source.id'], name=op.f('fk_risk_control_measure_hazard_source_id_risk_hazard_source'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_control_measure'))
    )
    with op.batch_alter_table('risk_control_measure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_control_measure_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_control_measure_hazard_source_id'), ['hazard_source_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('risk_control_measure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_risk_control_measure_hazard_source_id'))
        batch_op.drop_index(batch_op.f('ix_risk_control_measure_enterprise_id'))

    op.drop_table('risk_control_measure')
    with op.batch_alter_table('risk_assessment', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_assessment_point_at')
        batch_op.drop_index(batch_op.f('ix_risk_assessment_method_version_id'))
        batch_op.drop_index(batch_op.f('ix_risk_assessment_hazard_source_id'))
        batch_op.drop_index(batch_op.f('ix_risk_assessment_enterprise_id'))

    op.drop_table('risk_assessment')
    with op.batch_alter_table('risk_method_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_risk_method_version_enterprise_id'))

    op.drop_table('risk_method_version')
    with op.batch_alter_table('risk_hazard_source', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_risk_hazard_source_risk_point_id'))
        batch_op.drop_index(batch_op.f('ix_risk_hazard_source_enterprise_id'))

    op.drop_table('risk_hazard_source')
    with op.batch_alter_table('risk_point', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_risk_point_equipment_id'))
        batch_op.drop_index(batch_op.f('ix_risk_point_enterprise_id'))
        batch_op.drop_index('ix_risk_point_ent_level')
        batch_op.drop_index(batch_op.f('ix_risk_point_area_id'))

    op.drop_table('risk_point')
