"""Which methods a caller may call: patterns, deny wins, default deny, some never forwarded."""

from __future__ import annotations

import pytest

from gateway.errors import MethodNotAllowed
from gateway.policy import Allowlist
from gateway.sandbox import Sandbox

from .support import Client, bearer


def test_exact_names_and_shell_patterns_allow() -> None:
    rules = Allowlist(allow=("get_user", "search_*", "get_?omain"))
    assert rules.permits("get_user") and rules.permits("search_users")
    assert rules.permits("get_domain")
    assert not rules.permits("get_users") and not rules.permits("change_user")


def test_deny_wins_over_allow() -> None:
    rules = Allowlist(allow=("search_*",), deny=("search_admins",))
    assert rules.permits("search_users") and not rules.permits("search_admins")


def test_anything_unnamed_is_denied() -> None:
    assert not Allowlist(allow=()).permits("get_user")
    with pytest.raises(MethodNotAllowed):
        Allowlist(allow=("get_user",)).authorize("delete_user")


@pytest.mark.parametrize("method", ["authenticate", "_audit", "_change_brand"])
def test_authenticate_and_underscore_methods_are_never_forwarded_even_under_star(
    method: str,
) -> None:
    assert not Allowlist(allow=("*",)).permits(method)


async def test_method_outside_allowlist_gets_403_and_never_reaches_oma(
    gw: Client, oma: Sandbox
) -> None:
    response = await gw.post(
        "/api/delete_user", json={"user": "bob@demo.example"}, headers=bearer("billing")
    )
    assert response.status == 403
    body = await response.json()
    assert body["gateway_error"] == "method_not_allowed" and body["error_number"] == 4
    assert not any(r.method == "delete_user" for r in oma.requests)


async def test_authenticate_is_answered_by_the_gateway_and_never_forwarded(
    gw: Client, oma: Sandbox
) -> None:
    await gw.post("/api/get_user", json={"user": "bob@demo.example"}, headers=bearer("support"))
    logins = oma.authenticate_count  # the gateway's own login is done by now
    body = {"token": "mine", "generate_session_token": True}
    response = await gw.post("/api/authenticate", json=body, headers=bearer("support"))
    answer = await response.json()
    assert response.status == 200 and answer["success"] is True
    assert answer["session_token"] != "mine"  # a caller-chosen token is never used
    assert oma.authenticate_count == logins


@pytest.mark.parametrize(
    "name", ["GET_USER", "get-user", "get%20user", "x" * 80, "1abc", "get_user.json"]
)
async def test_malformed_method_names_are_refused_before_anything_else(
    gw: Client, name: str
) -> None:
    # No key at all: the name is checked first, so the answer is 400, not 401.
    response = await gw.post(f"/api/{name}", data=b"not even json")
    assert response.status == 400
    assert (await response.json())["gateway_error"] == "bad_request"


async def test_unknown_paths_and_http_methods_answer_in_the_envelope(gw: Client) -> None:
    response = await gw.get("/api/get_user")
    assert response.status == 405
    assert (await response.json())["success"] is False
    response = await gw.post("/some/where/else", json={})
    assert response.status == 404
    assert (await response.json())["gateway_error"] == "not_found"
