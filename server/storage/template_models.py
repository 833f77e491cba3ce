"""Template attributes that vm_template does not hold yet (they are vm_template columns upstream), and
template details (vm_template_details).

Kept beside storage/models.py so the template commands could add them without touching the shared model
file; folding TemplateFlags into vm_template, and the migration for both tables, are still to be done.
"""

from types import SimpleNamespace

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base


class TemplateFlags(Base):
    """One row per template registered through the API; seeded templates have none (defaults apply)."""

    __tablename__ = "vm_template_flags"
    template_id: Mapped[int] = mapped_column(ForeignKey("vm_template.id"), primary_key=True)
    enable_sshkey: Mapped[bool] = mapped_column(Boolean, default=False)
    dynamically_scalable: Mapped[bool] = mapped_column(Boolean, default=False)
    requires_hvm: Mapped[bool] = mapped_column(Boolean, default=True)
    template_tag: Mapped[str | None] = mapped_column(String(255), nullable=True)
    sort_key: Mapped[int] = mapped_column(Integer, default=0)
    direct_download: Mapped[bool] = mapped_column(Boolean, default=False)
    source_template_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class TemplateDetail(Base):
    __tablename__ = "vm_template_details"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("vm_template.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)


# What a template without a flags row (the seeded ones) reads as; a plain object, never added to a session.
DEFAULT_FLAGS = SimpleNamespace(enable_sshkey=False, dynamically_scalable=False, requires_hvm=True,
                                template_tag=None, sort_key=0, direct_download=False, source_template_id=None)

