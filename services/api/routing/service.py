"""Assignment pools: which agents a category's new tickets go to, and how they take turns."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.api.routing.schemas import PoolMemberOut, PoolOut, PoolUpdate
from shared.clock import utcnow
from shared.errors import Forbidden, InvalidReference, NotFound
from shared.models import AssignmentPool, AssignmentPoolMember, Category, Role, User
from shared.routing import eligible


def _require_staff(viewer: User) -> None:
    if not viewer.role.is_staff:
        raise Forbidden("assignment pools are for agents and admins")


def _require_admin(actor: User) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("only admins configure assignment pools")


def _category(session: Session, category_id: int) -> Category:
    category = session.get(Category, category_id)
    if category is None:
        raise NotFound(f"no category with id {category_id}")
    return category


def pool_out(pool: AssignmentPool, category: Category) -> PoolOut:
    return PoolOut(
        category_id=category.id,
        category_name=category.name,
        strategy=pool.strategy,
        members=[
            PoolMemberOut(
                id=member.user.id,
                name=member.user.name,
                email=member.user.email,
                role=member.user.role,
                is_bot=member.user.is_bot,
                active=member.user.active,
                eligible=eligible(member.user, humans_only=False),
            )
            for member in pool.members
        ],
        last_assigned_user_id=pool.last_assigned_user_id,
        created_at=pool.created_at,
        updated_at=pool.updated_at,
    )


def list_pools(session: Session, *, viewer: User) -> list[PoolOut]:
    _require_staff(viewer)
    rows = session.execute(
        select(AssignmentPool, Category)
        .join(Category, Category.id == AssignmentPool.category_id)
        .order_by(Category.id)
    ).all()
    return [pool_out(pool, category) for pool, category in rows]


def get_pool(session: Session, *, viewer: User, category_id: int) -> PoolOut:
    _require_staff(viewer)
    category = _category(session, category_id)
    pool = session.get(AssignmentPool, category_id)
    if pool is None:
        raise NotFound(f"category {category_id} has no assignment pool")
    return pool_out(pool, category)


def _members(session: Session, member_ids: list[int]) -> list[User]:
    found = {user.id: user for user in session.scalars(select(User).where(User.id.in_(member_ids)))}
    for index, user_id in enumerate(member_ids):
        user = found.get(user_id)
        if user is None or not user.active or not user.role.is_staff:
            raise InvalidReference(
                f"no active agent or admin with id {user_id}", field=f"member_ids.{index}"
            )
    return [found[user_id] for user_id in member_ids]


def put_pool(session: Session, *, actor: User, category_id: int, request: PoolUpdate) -> PoolOut:
    """Create or replace the category's pool."""
    _require_admin(actor)
    category = _category(session, category_id)
    members = _members(session, request.member_ids)
    pool = session.get(AssignmentPool, category_id)
    if pool is None:
        pool = AssignmentPool(category_id=category_id, strategy=request.strategy)
        session.add(pool)
    else:
        pool.strategy = request.strategy
        pool.updated_at = utcnow()
        # Removed first: a member kept with a new position is the same row.
        session.execute(
            delete(AssignmentPoolMember).where(AssignmentPoolMember.category_id == category_id)
        )
        session.expire(pool, ["members"])
    session.flush()
    session.add_all(
        AssignmentPoolMember(category_id=category_id, user_id=user.id, position=position)
        for position, user in enumerate(members)
    )
    session.flush()
    session.refresh(pool)
    return pool_out(pool, category)


def delete_pool(session: Session, *, actor: User, category_id: int) -> None:
    """Turn automatic assignment off for the category."""
    _require_admin(actor)
    _category(session, category_id)
    pool = session.get(AssignmentPool, category_id)
    if pool is None:
        raise NotFound(f"category {category_id} has no assignment pool")
    session.delete(pool)
    session.flush()
