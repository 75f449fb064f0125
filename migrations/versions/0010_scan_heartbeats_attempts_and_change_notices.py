"""sensitivity scans' heartbeat and attempts (the sweeper), scans' change notices (issue 17)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 12:45:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema: two scan columns (existing scans: no heartbeat, 0 attempts) and the
    events' scan id with its index (existing notices belong to no scan)."""
    with op.batch_alter_table('sensitivity_scans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column('attempt_count', sa.Integer(), server_default='0', nullable=False)
        )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scan_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_events_scan_id_id', ['scan_id', 'id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_scan_id_id')
        batch_op.drop_column('scan_id')
    with op.batch_alter_table('sensitivity_scans', schema=None) as batch_op:
        batch_op.drop_column('attempt_count')
        batch_op.drop_column('heartbeat_at')
