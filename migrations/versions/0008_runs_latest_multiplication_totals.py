"""runs' latest multiplication totals, for cheap run lists (issue 15)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 06:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TOTALS = (('latest_mult_direct', 'mult_direct'), ('latest_mult_sparse', 'mult_winograd_sparse'))


def upgrade() -> None:
    """Upgrade schema: two nullable run columns, filled from the metric rows already stored."""
    with op.batch_alter_table('runs', schema=None) as batch_op:
        for column, _key in TOTALS:
            batch_op.add_column(sa.Column(column, sa.Float(), nullable=True))
    _backfill()


def _backfill() -> None:
    """Each total's value at the run's latest (stage, epoch) that has a row of it (what the run
    lists read through two correlated subqueries per row before this revision)."""
    runs = sa.table('runs', sa.column('id', sa.Integer),
                    *(sa.column(column, sa.Float) for column, _key in TOTALS))  # fmt: skip
    metrics = sa.table('metrics', sa.column('run_id', sa.Integer), sa.column('stage', sa.Integer),
                       sa.column('epoch', sa.Integer), sa.column('key', sa.String),
                       sa.column('value', sa.Float))  # fmt: skip
    latest = {
        column: sa.select(metrics.c.value)
        .where(metrics.c.run_id == runs.c.id, metrics.c.key == key)
        .order_by(metrics.c.stage.desc(), metrics.c.epoch.desc())
        .limit(1)
        .scalar_subquery()
        for column, key in TOTALS
    }
    op.get_bind().execute(sa.update(runs).values(latest))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('runs', schema=None) as batch_op:
        for column, _key in reversed(TOTALS):
            batch_op.drop_column(column)
