"""vm_instance: an index for listVirtualMachines (type, removed)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 03:40:00.000000
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vm_instance", schema=None) as batch_op:
        batch_op.create_index("ix_vm_instance_type_removed", ["type", "removed"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vm_instance", schema=None) as batch_op:
        batch_op.drop_index("ix_vm_instance_type_removed")
