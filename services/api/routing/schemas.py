from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from services.api.schemas import Id, StrictInput
from shared.models import AssignmentStrategy, Role

MAX_POOL_MEMBERS = 100


class PoolUpdate(StrictInput):
    """A category's whole pool: the strategy and the agents, in the order round robin walks."""

    strategy: AssignmentStrategy = Field(
        description="round_robin: each agent in turn; least_open: the agent with the fewest "
        "open tickets (ties: the first in member_ids)."
    )
    member_ids: list[Id] = Field(
        max_length=MAX_POOL_MEMBERS,
        description="Active agents or admins (bots and/or humans); [] turns assignment off.",
    )

    @field_validator("member_ids")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        repeated = sorted({user_id for user_id in value if value.count(user_id) > 1})
        if repeated:
            raise ValueError(f"each agent once: {', '.join(map(str, repeated))} repeated")
        return value


class PoolMemberOut(BaseModel):
    id: int
    name: str
    email: str
    role: Role
    is_bot: bool
    active: bool
    # False when the member is deactivated or no longer staff: picks skip them.
    eligible: bool


class PoolOut(BaseModel):
    category_id: int
    category_name: str
    strategy: AssignmentStrategy
    members: list[PoolMemberOut]
    last_assigned_user_id: int | None
    created_at: datetime
    updated_at: datetime
