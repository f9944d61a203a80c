"""Mail out over REST and MCP: the templates admins edit, the delivery log staff read, the
users' opt-out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import MailTemplate, OutboundMail
from shared.settings import get_settings
from tests.api.test_mcp import call, error_text, ok
from tests.helpers import new_ticket, problem_of
from tests.support.processes import ApiServer, free_port
from tests.worker.test_mail_out import reply, use_settings, work

GOOD = {
    "subject": "Ticket {{ ticket.number }}: {{ ticket.title }}",
    "text": "Hi {{ recipient.name }},\n\n{{ comment.body }}\n",
    "html": "<p>Hi {{ recipient.name }},</p><p>{{ comment.body }}</p>",
}


@pytest.fixture
def mail_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Mail recorded by the in-process worker; sending would find no server (not needed)."""
    use_settings(monkeypatch, SMTP_HOST="127.0.0.1", SMTP_PORT=str(free_port()))
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def reset_reply_template(admin: httpx.Client) -> Iterator[None]:
    yield
    admin.delete("/mail-templates/reply")


def test_admins_list_the_templates_with_their_variables(admin: httpx.Client) -> None:
    response = admin.get("/mail-templates")
    assert response.status_code == 200, response.text
    templates = {t["name"]: t for t in response.json()}
    assert set(templates) == {"acknowledgement", "reply", "resolution"}
    assert "comment.body" in templates["reply"]["variables"]
    assert "comment.body" not in templates["acknowledgement"]["variables"]


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_only_admins_see_or_change_templates(clients: dict[str, httpx.Client], role: str) -> None:
    client = clients[role]
    assert client.get("/mail-templates").status_code == 403
    assert client.put("/mail-templates/reply", json=GOOD).status_code == 403
    assert client.delete("/mail-templates/reply").status_code == 403


def test_an_admin_edits_a_template_and_resets_it(
    admin: httpx.Client, db: Session, reset_reply_template: None
) -> None:
    response = admin.put("/mail-templates/reply", json=GOOD)
    assert response.status_code == 200, response.text
    assert response.json()["customized"] is True
    assert admin.get("/mail-templates/reply").json()["subject"] == GOOD["subject"]
    response = admin.delete("/mail-templates/reply")
    assert response.status_code == 200, response.text
    assert response.json()["customized"] is False
    assert db.get(MailTemplate, "reply") is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("html", "<p>{% if %}</p>"),
        ("subject", "{{ ticket.secret }}"),
        ("text", "{{ password }}"),
        ("text", "{{ ticket.__class__.__mro__ }}"),
        ("subject", "{{ '' }}"),
    ],
)
def test_a_template_that_does_not_render_is_a_422_naming_the_part(
    admin: httpx.Client, db: Session, field: str, value: str
) -> None:
    response = admin.put("/mail-templates/reply", json={**GOOD, field: value})
    assert response.status_code == 422, response.text
    assert problem_of(response)["errors"][0]["field"] == field
    assert db.get(MailTemplate, "reply") is None


def test_a_variable_of_another_template_is_refused(admin: httpx.Client) -> None:
    response = admin.put("/mail-templates/acknowledgement", json=GOOD)
    assert response.status_code == 422
    assert problem_of(response)["errors"][0]["field"] == "text"


@pytest.mark.parametrize(
    "body",
    [
        {"subject": "x", "text": "y"},
        {**GOOD, "colour": "red"},
        {**GOOD, "subject": "a\x07b"},
        {**GOOD, "subject": "a\nb"},
        {**GOOD, "text": "x" * 100_001},
        {**GOOD, "html": 42},
    ],
)
def test_a_malformed_template_is_refused(admin: httpx.Client, body: dict[str, Any]) -> None:
    response = admin.put("/mail-templates/reply", json=body)
    assert response.status_code == 422, response.text
    problem_of(response)


def test_an_unknown_template_is_a_404(admin: httpx.Client) -> None:
    assert admin.get("/mail-templates/newsletter").status_code == 404
    assert admin.put("/mail-templates/newsletter", json=GOOD).status_code == 404
    assert admin.delete("/mail-templates/newsletter").status_code == 404


def test_staff_read_a_tickets_mail_log(
    mail_on: None, customer: httpx.Client, agent: httpx.Client, admin: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)
    reply(agent, ticket["id"], "On it")
    work(ticket["id"])
    response = agent.get(f"/tickets/{ticket['number']}/mail")
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 2
    newest = page["items"][0]
    assert (newest["kind"], newest["to_address"], newest["status"]) == (
        "reply",
        "john.doe@example.com",
        "pending",
    )
    assert "On it" in newest["body_text"]
    assert newest["message_id"].startswith(f"<ticket-{ticket['id']}-")
    row = db.scalar(select(OutboundMail).where(OutboundMail.id == newest["id"]))
    assert row is not None
    assert newest["body_html"] == row.body_html

    everything = admin.get("/mail-out", params={"ticket": ticket["number"], "kind": "reply"})
    assert everything.status_code == 200, everything.text
    assert [m["id"] for m in everything.json()["items"]] == [newest["id"]]
    pending = admin.get("/mail-out", params={"status": "pending", "to": "john.doe@example.com"})
    assert newest["id"] in [m["id"] for m in pending.json()["items"]]


def test_customers_do_not_read_mail_logs(
    customer: httpx.Client, other_customer: httpx.Client, agent: httpx.Client
) -> None:
    ticket = new_ticket(customer)
    assert customer.get(f"/tickets/{ticket['id']}/mail").status_code == 403
    assert other_customer.get(f"/tickets/{ticket['id']}/mail").status_code == 404
    assert customer.get("/mail-out").status_code == 403
    assert agent.get("/mail-out").status_code == 403


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/tickets/999999999/mail", 404),
        ("/tickets/not-a-ticket/mail", 404),
        ("/tickets/1/mail?limit=0", 422),
        ("/tickets/1/mail?offset=-1", 422),
        ("/mail-out?status=lost", 422),
        ("/mail-out?kind=spam", 422),
        ("/mail-out?ticket=nope", 422),
        ("/mail-out?ticket=", 422),
        ("/mail-out?to=" + "a" * 300, 422),
        ("/mail-out?to=a%01b", 422),
    ],
)
def test_bad_mail_log_requests_are_4xx(admin: httpx.Client, path: str, status: int) -> None:
    response = admin.get(path)
    assert response.status_code == status, response.text
    problem_of(response)


def test_a_user_opts_out_of_mail_themselves(
    clients: dict[str, httpx.Client], admin: httpx.Client
) -> None:
    customer = clients["third_customer"]
    try:
        response = customer.patch("/users/me", json={"mail_opt_out": True})
        assert response.status_code == 200, response.text
        assert response.json()["mail_opt_out"] is True
        assert customer.get("/users/me").json()["mail_opt_out"] is True
        me = response.json()["id"]
        assert admin.get(f"/users/{me}").json()["mail_opt_out"] is True
    finally:
        customer.patch("/users/me", json={"mail_opt_out": False})
    assert customer.get("/users/me").json()["mail_opt_out"] is False


@pytest.mark.parametrize(
    "body", [{"mail_opt_out": "sometimes"}, {"role": "admin"}, {"name": "Bob"}, []]
)
def test_users_change_nothing_else_about_themselves(
    clients: dict[str, httpx.Client], body: Any
) -> None:
    customer = clients["third_customer"]
    response = customer.patch("/users/me", json=body)
    assert response.status_code == 422, response.text
    assert customer.get("/users/me").json()["role"] == "customer"


def test_a_customer_cannot_opt_another_user_out(customer: httpx.Client) -> None:
    response = customer.patch("/users/2", json={"mail_opt_out": True})
    assert response.status_code == 403


def test_staff_list_a_tickets_mail_over_mcp(
    mail_on: None,
    api_server: ApiServer,
    api_keys: dict[str, str],
    customer: httpx.Client,
    agent: httpx.Client,
) -> None:
    ticket = new_ticket(customer)
    reply(agent, ticket["id"], "Over MCP")
    work(ticket["id"])
    result = ok(call(api_server, api_keys["agent"], "list_ticket_mail", ticket=ticket["number"]))
    items = result["result"] if isinstance(result, dict) and "result" in result else result
    assert [m["kind"] for m in items] == ["reply", "acknowledgement"]
    refused = call(api_server, api_keys["customer"], "list_ticket_mail", ticket=ticket["id"])
    assert refused.is_error
    assert "Forbidden" in error_text(refused)
