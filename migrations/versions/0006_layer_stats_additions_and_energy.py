"""layer_stats: additions and energy per layer (AdderNet and Winograd adder, issue 19)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:00:00.000000

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema: per-layer additions and energy estimate (winoprune.pruning.operations),
    nullable (older rows and rows without a count leave them NULL)."""
    with op.batch_alter_table("layer_stats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("additions", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("energy_pj", sa.Float(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("layer_stats", schema=None) as batch_op:
        batch_op.drop_column("energy_pj")
        batch_op.drop_column("additions")
