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
        batch_op.add_column(sa.Column('tile', sa.String(length=32), nullable=True))
    _backfill_tiles()
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


def _tile_label(recipe: object) -> str | None:
    """The tile's label of a stored recipe: its name, or F(m,r) of a {m, r, ...} mapping."""
    tile = recipe.get("tile") if isinstance(recipe, dict) else None
    if isinstance(tile, str):
        return tile[:32]
    if isinstance(tile, dict) and isinstance(tile.get("m"), int) and isinstance(tile.get("r"), int):
        return f"F({tile['m']},{tile['r']})"
    return None


def _backfill_tiles() -> None:
    """runs.tile of the runs made before this revision, read from their stored recipes."""
    runs = sa.table('runs', sa.column('id', sa.Integer), sa.column('recipe', sa.JSON),
                    sa.column('tile', sa.String))
    bind = op.get_bind()
    labels = [(row.id, _tile_label(row.recipe)) for row in bind.execute(sa.select(runs.c.id, runs.c.recipe))]
    for run_id, label in labels:
        if label is not None:
            bind.execute(sa.update(runs).where(runs.c.id == run_id).values(tile=label))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('workers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workers_seen_at'))
    op.drop_table('workers')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('tile')
        batch_op.drop_column('system')
        batch_op.drop_column('restart_from')
        batch_op.drop_column('archived_at')
