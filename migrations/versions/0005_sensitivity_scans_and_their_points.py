"""sensitivity scans and their points (issue 17)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema: the scans and their points (one row per layer and grid index)."""
    op.create_table(
        'sensitivity_scans',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('recipe', sa.JSON(), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=True),
        sa.Column('stage', sa.Integer(), nullable=True),
        sa.Column('artifact_id', sa.Integer(), nullable=True),
        sa.Column('method', sa.String(length=64), nullable=False),
        sa.Column('options', sa.JSON(), nullable=False),
        sa.Column('chunk_size', sa.Integer(), nullable=False),
        sa.Column('layers', sa.JSON(), nullable=True),
        sa.Column('baseline', sa.JSON(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('cancel_requested', sa.Boolean(), nullable=False),
        sa.Column('points_total', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
            name=op.f('ck_sensitivity_scans_status'),
        ),
        sa.CheckConstraint(
            "source IN ('run', 'artifact', 'recipe')", name=op.f('ck_sensitivity_scans_source')
        ),
        sa.ForeignKeyConstraint(
            ['artifact_id'], ['artifacts.id'],
            name=op.f('fk_sensitivity_scans_artifact_id_artifacts'), ondelete='SET NULL',
        ),
        sa.ForeignKeyConstraint(
            ['created_by_id'], ['users.id'],
            name=op.f('fk_sensitivity_scans_created_by_id_users'), ondelete='SET NULL',
        ),
        sa.ForeignKeyConstraint(
            ['project_id'], ['projects.id'],
            name=op.f('fk_sensitivity_scans_project_id_projects'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['run_id'], ['runs.id'], name=op.f('fk_sensitivity_scans_run_id_runs'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sensitivity_scans')),
    )
    with op.batch_alter_table('sensitivity_scans', schema=None) as batch_op:
        batch_op.create_index('ix_sensitivity_scans_project_id_id', ['project_id', 'id'])
        batch_op.create_index(batch_op.f('ix_sensitivity_scans_run_id'), ['run_id'])
    op.create_table(
        'sensitivity_points',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('scan_id', sa.Integer(), nullable=False),
        sa.Column('layer', sa.String(length=200), nullable=False),
        sa.Column('grid_index', sa.Integer(), nullable=False),
        sa.Column('target', sa.Float(), nullable=False),
        sa.Column('sparsity', sa.Float(), nullable=False),
        sa.Column('accuracy', sa.Float(), nullable=False),
        sa.Column('loss', sa.Float(), nullable=False),
        sa.Column('multiplications', sa.BigInteger(), nullable=False),
        sa.Column('mult_saved', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['scan_id'], ['sensitivity_scans.id'],
            name=op.f('fk_sensitivity_points_scan_id_sensitivity_scans'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sensitivity_points')),
        sa.UniqueConstraint(
            'scan_id', 'layer', 'grid_index',
            name=op.f('uq_sensitivity_points_scan_id_layer_grid_index'),
        ),
    )
    with op.batch_alter_table('sensitivity_points', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sensitivity_points_scan_id'), ['scan_id'])


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('sensitivity_points', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sensitivity_points_scan_id'))
    op.drop_table('sensitivity_points')
    with op.batch_alter_table('sensitivity_scans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sensitivity_scans_run_id'))
        batch_op.drop_index('ix_sensitivity_scans_project_id_id')
    op.drop_table('sensitivity_scans')
