"""Admins list quarantined and dropped mail over REST and MCP; nobody else reads the log."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_mcp import call, error_text, ok
from tests.helpers import problem_of
from tests.mail import corpus
from tests.mail.conftest import MailService
from tests.mail.test_mail_in import stranger
from tests.support.processes import ApiServer


@pytest.fixture(scope="module")
def quarantined_sender(mail: MailService) -> str:
    sender = stranger()
    mail.send(corpus.raw_unknown_charset(sender=sender))
    return sender


def test_admin_lists_quarantined_mail_with_the_reason(
    admin: httpx.Client, quarantined_sender: str
) -> None:
    response = admin.get("/mail/messages", params={"outcome": "quarantined", "limit": 200})
    assert response.status_code == 200, response.text
    page = response.json()
    assert {item["outcome"] for item in page["items"]} == {"quarantined"}
    mine = [item for item in page["items"] if item["from_address"] == quarantined_sender]
    assert len(mine) == 1
    assert "unknown charset" in mine[0]["reason"]
    assert mine[0]["ticket_id"] is None
    assert mine[0]["raw_blob"]
    assert page["total"] >= 1


def test_admin_lists_dropped_mail(admin: httpx.Client, mail: MailService) -> None:
    sender = stranger()
    mail.send(corpus.out_of_office(sender=sender))
    items = admin.get("/mail/messages", params={"outcome": "dropped", "limit": 200}).json()["items"]
    assert [item["reason"] for item in items if item["from_address"] == sender] == [
        "auto-submitted: auto-replied"
    ]


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_agents_and_customers_may_not_read_the_mail_log(
    role: str, request: pytest.FixtureRequest, quarantined_sender: str
) -> None:
    client: httpx.Client = request.getfixturevalue(role)
    response = client.get("/mail/messages", params={"outcome": "quarantined"})
    assert response.status_code == 403
    assert "only admins" in problem_of(response)["detail"]


def test_the_mail_log_needs_a_key(anonymous: httpx.Client) -> None:
    assert anonymous.get("/mail/messages").status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"outcome": "lost"}, "outcome"),
        ({"limit": "0"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"outcome": "quarantined\x00"}, "outcome"),
    ],
)
def test_bad_filters_are_a_422_naming_the_field(
    admin: httpx.Client, params: dict[str, str], field: str
) -> None:
    response = admin.get("/mail/messages", params=params)
    assert response.status_code in (400, 422), response.text
    assert field in response.text


def test_admins_agent_lists_quarantined_mail_over_mcp(
    api_server: ApiServer, api_keys: dict[str, str], quarantined_sender: str
) -> None:
    page = ok(call(api_server, api_keys["admin"], "list_mail_messages", outcome="quarantined"))
    assert quarantined_sender in {item["from_address"] for item in page["items"]}


def test_an_agents_mcp_call_for_the_mail_log_is_refused(
    api_server: ApiServer, api_keys: dict[str, str]
) -> None:
    result = call(api_server, api_keys["agent"], "list_mail_messages")
    assert "only admins" in error_text(result)
