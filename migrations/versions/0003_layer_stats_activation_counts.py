"""layer_stats: activation density and activation-skipping multiplications (Winograd-ReLU),
and each layer's direct cost

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema: nullable columns (older rows and other layers leave them NULL)."""
    with op.batch_alter_table('layer_stats', schema=None) as batch_op:
        batch_op.add_column(sa.Column('activation_density', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('mult_activation_sparse', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('mult_direct', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('layer_stats', schema=None) as batch_op:
        batch_op.drop_column('mult_direct')
        batch_op.drop_column('mult_activation_sparse')
        batch_op.drop_column('activation_density')
