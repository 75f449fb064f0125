"""runs archived, workers' capabilities and system figures (issue 16)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema: nullable run columns and the workers table."""
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('restart_from', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('system', sa.JSON(), nullable=True))
    op.create_table(
        'workers',
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('devices', sa.JSON(), nullable=False),
        sa.Column('data_roots', sa.JSON(), nullable=False),
        sa.Column('datasets', sa.JSON(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_workers')),
    )
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workers_seen_at'), ['seen_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workers_seen_at'))
    op.drop_table('workers')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('system')
        batch_op.drop_column('restart_from')
        batch_op.drop_column('archived_at')
