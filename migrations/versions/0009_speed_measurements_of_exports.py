"""speed measurements of a run's exports (issue 18)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 06:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema: the speed_measurements table."""
    op.create_table(
        'speed_measurements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('checkpoint', sa.String(length=200), nullable=True),
        sa.Column('stage', sa.Integer(), nullable=True),
        sa.Column('weights_sha256', sa.String(length=64), nullable=False),
        sa.Column('batch', sa.Integer(), nullable=False),
        sa.Column('threads', sa.Integer(), nullable=False),
        sa.Column('machine', sa.String(length=200), nullable=False),
        sa.Column('cpu', sa.String(length=200), nullable=True),
        sa.Column('torch', sa.String(length=64), nullable=True),
        sa.Column('conv2d_ms', sa.Float(), nullable=False),
        sa.Column('export_ms', sa.Float(), nullable=False),
        sa.Column('speedup', sa.Float(), nullable=False),
        sa.Column('measured_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('layers', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['created_by_id'], ['users.id'],
            name=op.f('fk_speed_measurements_created_by_id_users'), ondelete='SET NULL',
        ),
        sa.ForeignKeyConstraint(
            ['run_id'], ['runs.id'], name=op.f('fk_speed_measurements_run_id_runs'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_speed_measurements')),
        sa.UniqueConstraint(
            'run_id', 'weights_sha256', 'batch', 'threads', 'machine',
            name='uq_speed_measurements_natural_key',
        ),
    )
    with op.batch_alter_table('speed_measurements', schema=None) as batch_op:
        batch_op.create_index(
            'ix_speed_measurements_run_id_measured_at', ['run_id', 'measured_at'], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('speed_measurements', schema=None) as batch_op:
        batch_op.drop_index('ix_speed_measurements_run_id_measured_at')
    op.drop_table('speed_measurements')
