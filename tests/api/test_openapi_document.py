"""The API document tells the truth about errors: each operation lists the statuses it can
answer, each in the problem+json shape (the fuzzer, test_openapi_fuzz.py, checks the answers
against it)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.processes import ApiServer

PROBLEM = {"$ref": "#/components/schemas/Problem"}
PUBLIC = {"/health", "/ready"}


@pytest.fixture(scope="module")
def document(api_server: ApiServer) -> dict[str, Any]:
    return dict(httpx.get(f"{api_server.base_url}/openapi.json", timeout=10).json())


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in document["paths"].items()
        if path not in PUBLIC
        for method, operation in operations.items()
    ]


def _errors(operation: dict[str, Any]) -> set[int]:
    return {int(status) for status in operation["responses"] if int(status) >= 400}


def test_every_error_is_documented_in_the_problem_shape(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                content = response["content"]
                assert content == {"application/problem+json": {"schema": PROBLEM}}, (
                    method,
                    path,
                    status,
                )


def test_every_authenticated_operation_can_answer_401_403_429_and_503(
    document: dict[str, Any],
) -> None:
    for path, method, operation in _operations(document):
        assert {401, 403, 429, 503} <= _errors(operation), (method, path)
        assert operation["security"] == [{"apiKey": []}]


def test_429_and_503_document_when_to_retry(document: dict[str, Any]) -> None:
    responses = document["paths"]["/tickets"]["get"]["responses"]
    assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(
        responses["429"]["headers"]
    )
    assert "Retry-After" in responses["503"]["headers"]


def test_statuses_follow_what_an_operation_takes(document: dict[str, Any]) -> None:
    paths = document["paths"]
    # An id in the path: 404. A body: 400 (not JSON), 413 (too large), 422.
    assert 404 in _errors(paths["/tickets/{ticket_ref}"]["get"])
    assert 404 not in _errors(paths["/tickets"]["get"])
    assert {400, 409, 413, 422} <= _errors(paths["/tickets"]["post"])
    assert not {400, 413} & _errors(paths["/tickets"]["get"])
    # If-Match: 412; a read never answers it.
    assert 412 in _errors(paths["/tickets/{ticket_ref}"]["patch"])
    assert 412 in _errors(paths["/articles/{article_id}"]["delete"])
    assert 412 not in _errors(paths["/tickets/{ticket_ref}"]["get"])
    assert 412 not in _errors(paths["/users"]["post"])


def test_readiness_documents_its_503(document: dict[str, Any]) -> None:
    assert {"200", "503"} <= set(document["paths"]["/ready"]["get"]["responses"])
    assert "security" not in document["paths"]["/health"]["get"]
