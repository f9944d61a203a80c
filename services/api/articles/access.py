"""Who may see and change which article: staff everything, customers published articles only."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from services.api.articles.repository import published_only
from shared.errors import Forbidden
from shared.models import Article, User


def visible_to(viewer: User) -> ColumnElement[bool]:
    """The articles `viewer` may read, as a WHERE clause."""
    return published_only(not viewer.role.is_staff)


def can_see(viewer: User, article: Article) -> bool:
    return viewer.role.is_staff or article.published


def ensure_may_write(actor: User) -> None:
    if not actor.role.is_staff:
        raise Forbidden("only agents and admins write knowledge-base articles")


def ensure_may_link(actor: User) -> None:
    if not actor.role.is_staff:
        raise Forbidden("only agents and admins link articles to tickets")
