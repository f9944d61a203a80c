from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.api.custom_fields.values import filter_parameters
from services.api.dependencies import CurrentUser, DbSession
from services.api.responses import json_response
from services.api.schemas import Page
from services.api.search import service
from services.api.search.schemas import SearchHit, SearchParams

router = APIRouter(tags=["search"])


@router.get("/search", response_model=Page[SearchHit])
def search(
    request: Request,
    session: DbSession,
    viewer: CurrentUser,
    params: Annotated[SearchParams, Query()],
) -> Response:
    """Full-text search over title, description, public comments and tags, best match first;
    takes the `/tickets` filters, custom field ones (`cf_<key>`) included."""
    hits, total = service.search_tickets(
        session,
        viewer=viewer,
        params=params,
        custom_filters=filter_parameters(request.query_params),
    )
    return json_response(Page(items=hits, total=total, limit=params.limit, offset=params.offset))
