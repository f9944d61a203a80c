"""The API service: FastAPI app factory and the app uvicorn serves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.api.api_keys.router import router as api_keys_router
from services.api.articles.router import router as articles_router
from services.api.articles.router import ticket_router as ticket_articles_router
from services.api.attachments.router import router as attachments_router
from services.api.automations.router import router as automations_router
from services.api.bulk.router import router as bulk_router
from services.api.comments.router import router as comments_router
from services.api.cors import ListedOriginsCORS
from services.api.custom_fields.router import router as custom_fields_router
from services.api.errors import install_error_handlers
from services.api.health.router import router as health_router
from services.api.macros.router import router as macros_router
from services.api.mail.router import router as mail_router
from services.api.mail_out.router import router as mail_out_router
from services.api.mail_out.router import ticket_router as ticket_mail_router
from services.api.mail_templates.router import router as mail_templates_router
from services.api.mcp.server import create_mcp_endpoint
from services.api.metrics import RequestMetrics, write_batch_requests
from services.api.metrics import router as metrics_router
from services.api.middleware import BodySizeLimit, ControlCharactersInQuery, UnhandledErrors
from services.api.openapi import problem_openapi
from services.api.participants.router import router as participants_router
from services.api.publishing import BackgroundPublisher
from services.api.rate_limits.middleware import RateLimiter, RateLimitMiddleware
from services.api.reference.router import router as reference_router
from services.api.request_ids import RequestIds
from services.api.routing.router import router as routing_router
from services.api.search.router import router as search_router
from services.api.security_headers import SecurityHeaders
from services.api.stats.router import router as stats_router
from services.api.ticket_links.router import router as ticket_links_router
from services.api.tickets.escalation_router import router as escalation_router
from services.api.tickets.router import router as tickets_router
from services.api.triggers.router import router as triggers_router
from services.api.users.router import router as users_router
from services.api.webhooks.event_docs import document_events
from services.api.webhooks.router import router as webhooks_router
from shared.celery_app import get_celery
from shared.publishing import OutboxPublisher
from shared.redis_client import get_redis
from shared.settings import Settings, get_settings
from shared.unit_of_work import Commit, on_commit

DESCRIPTION = """
Customer-support tickets over REST. Authenticate with `Authorization: Bearer <api key>`
(create one with `ticketing api-key create --email you@example.com`). Errors are RFC 9457
problem details. Every change is recorded in the ticket's history and emitted as an event.
"""


def _after_commit(publisher: BackgroundPublisher, commit: Commit) -> None:
    if commit.requests:
        write_batch_requests.observe(commit.requests)
    if commit.wrote_events:
        publisher.wake()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    publisher = BackgroundPublisher(
        lambda in_transaction: OutboxPublisher(
            redis=get_redis(),
            celery=get_celery(),
            settings=get_settings(),
            in_transaction=in_transaction,
        )
    )
    app.state.publisher = publisher
    stop_hearing = on_commit(lambda commit: _after_commit(publisher, commit))
    publisher.start()
    async with app.state.mcp.running():
        yield
    stop_hearing()
    # In a thread: a round under way may be marking its rows in a batch of this loop.
    await asyncio.to_thread(publisher.stop)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Ticketing",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=_lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(UnhandledErrors)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_request_body_bytes,
        # Every file an upload may carry at its largest, and room for the multipart framing.
        upload_max_bytes=settings.attachment_max_bytes * settings.attachment_max_files_per_upload
        + settings.max_request_body_bytes,
    )
    app.add_middleware(ControlCharactersInQuery)
    # Before the body is read: a client past its limit costs a Redis round trip, no parsing.
    # Inside CORS, so a browser can read a 429.
    app.add_middleware(RateLimitMiddleware, limiter=RateLimiter(settings))
    if settings.cors_origins:
        app.add_middleware(
            ListedOriginsCORS,
            allow_origins=settings.cors_origins,
            # A wildcard origin must not be combined with credentials.
            allow_credentials="*" not in settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[
                "ETag",
                "Location",
                "Idempotent-Replayed",
                "X-Request-ID",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
                "Retry-After",
            ],
        )
    # Outside CORS: preflight answers carry the security headers too.
    app.add_middleware(SecurityHeaders, settings=settings)
    # Outermost (added last): every answer, errors and refusals included, is counted and
    # carries its request id.
    app.add_middleware(RequestMetrics)
    app.add_middleware(RequestIds)
    for router in (
        health_router,
        metrics_router,
        bulk_router,
        tickets_router,
        escalation_router,
        comments_router,
        attachments_router,
        ticket_links_router,
        articles_router,
        ticket_articles_router,
        search_router,
        stats_router,
        users_router,
        api_keys_router,
        reference_router,
        custom_fields_router,
        participants_router,
        triggers_router,
        macros_router,
        automations_router,
        mail_router,
        routing_router,
        webhooks_router,
        ticket_mail_router,
        mail_out_router,
        mail_templates_router,
    ):
        app.include_router(router)
    # AI agents: the Model Context Protocol endpoint (streamable HTTP), same keys and rules.
    app.state.mcp = create_mcp_endpoint()
    app.add_route("/mcp", app.state.mcp.app, include_in_schema=False)
    document_events(app)
    app.openapi = problem_openapi(app)  # type: ignore[method-assign]
    return app


app = create_app()
