"""The reference-data version: every change to reference data, users or API keys bumps it."""

from __future__ import annotations

from sqlalchemy import Integer
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base


class ReferenceVersion(Base):
    """One row (id 1). Processes cache what it covers and re-read it when the number moves."""

    __tablename__ = "reference_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
