"""external runs, idempotent batches and sortable final metrics (issue 15)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FINAL = ('final_top1', 'final_winograd_sparsity', 'final_mult_reduction', 'final_loss')


def upgrade() -> None:
    """Upgrade schema: nullable metric columns (filled as runs report), the external flag, the
    batch keys of the tracking API."""
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('external', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column('description', sa.Text(), nullable=True))
        for name in FINAL:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))
    with op.batch_alter_table('runs', schema=None) as batch_op:
        for name in FINAL:
            batch_op.create_index(
                f'ix_runs_project_id_{name}_id', ['project_id', name, 'id'], unique=False
            )
            batch_op.create_index(f'ix_runs_{name}_id', [name, 'id'], unique=False)
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('project_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_api_tokens_project_id_projects'), 'projects', ['project_id'], ['id'],
            ondelete='CASCADE',
        )
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('loss', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('mult_reduction', sa.Float(), nullable=True))
    op.create_table(
        'tracking_batches',
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('metrics', sa.Integer(), nullable=False),
        sa.Column('layers', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['run_id'], ['runs.id'], name=op.f('fk_tracking_batches_run_id_runs'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('run_id', 'key', name=op.f('pk_tracking_batches')),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('tracking_batches')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_tokens_project_id_projects'), type_='foreignkey')
        batch_op.drop_column('project_id')
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.drop_column('mult_reduction')
        batch_op.drop_column('loss')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        for name in FINAL:
            batch_op.drop_index(f'ix_runs_project_id_{name}_id')
            batch_op.drop_index(f'ix_runs_{name}_id')
        for name in reversed(FINAL):
            batch_op.drop_column(name)
        batch_op.drop_column('description')
        batch_op.drop_column('external')
