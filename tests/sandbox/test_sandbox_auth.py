"""authenticate: password and token logins, session tokens, expiry and the request log."""

from __future__ import annotations

from pytest_aiohttp import AiohttpClient

from gateway.sandbox import Fault, ManualClock, Sandbox, create_sandbox_app

from .support import ADMIN, DOMAIN_ADMIN, Client, oma, session_token, with_token


async def test_password_login_authenticates(client: Client) -> None:
    assert await oma(client, "authenticate") == {"success": True}


async def test_session_token_defaults_to_three_hours(client: Client) -> None:
    reply = await oma(client, "authenticate", generate_session_token=True)
    assert reply["session_token_duration"] == 10800
    assert len(reply["session_token"]) >= 16


async def test_session_token_authenticates_later_calls(client: Client) -> None:
    token = await session_token(client)
    reply = await oma(
        client, "get_user", with_token("admin@demo.adm", token), user="bob@demo.example"
    )
    assert reply["success"] is True


async def test_token_is_bound_to_the_user_it_was_issued_to(client: Client) -> None:
    token = await session_token(client)
    reply = await oma(client, "authenticate", with_token("domainadmin@demo.example", token))
    assert reply["error_number"] == 1


async def test_unknown_token_is_error_1(client: Client) -> None:
    reply = await oma(client, "authenticate", with_token("admin@demo.adm", "f" * 32))
    assert reply["error_number"] == 1


async def test_token_expires_at_issue_time_plus_duration(
    client: Client, clock: ManualClock
) -> None:
    token = await session_token(client, session_token_duration=60)
    credentials = with_token("admin@demo.adm", token)
    clock.advance(59)
    assert (await oma(client, "authenticate", credentials))["success"] is True
    clock.advance(1)
    assert (await oma(client, "authenticate", credentials))["error_number"] == 1


async def test_token_use_does_not_extend_its_life(client: Client, clock: ManualClock) -> None:
    token = await session_token(client, session_token_duration=100)
    credentials = with_token("admin@demo.adm", token)
    for _ in range(3):
        clock.advance(30)
        assert (await oma(client, "authenticate", credentials))["success"] is True
    clock.advance(10)
    assert (await oma(client, "authenticate", credentials))["error_number"] == 1


async def test_session_duration_is_clamped_to_one_second_and_one_day(
    client: Client, clock: ManualClock
) -> None:
    low = await oma(client, "authenticate", generate_session_token=True, session_token_duration=0)
    high = await oma(
        client, "authenticate", generate_session_token=True, session_token_duration=10**7
    )
    assert low["session_token_duration"] == 1
    assert high["session_token_duration"] == 86400
    clock.advance(86399)
    reply = await oma(client, "authenticate", with_token("admin@demo.adm", high["session_token"]))
    assert reply["success"] is True


async def test_session_duration_that_is_not_an_integer_is_error_5(client: Client) -> None:
    reply = await oma(
        client, "authenticate", generate_session_token=True, session_token_duration="3h"
    )
    assert reply["error_number"] == 5


async def test_caller_chosen_session_token_is_used(client: Client) -> None:
    token = await session_token(client, token="chosen-token-value")
    assert token == "chosen-token-value"
    reply = await oma(client, "authenticate", with_token("admin@demo.adm", "chosen-token-value"))
    assert reply["success"] is True


async def test_chosen_token_held_by_another_user_is_refused(client: Client) -> None:
    await session_token(client, token="shared-token")
    reply = await oma(
        client, "authenticate", DOMAIN_ADMIN, generate_session_token=True, token="shared-token"
    )
    assert reply["error_number"] == 7


async def test_token_is_ignored_without_generate_session_token(client: Client) -> None:
    reply = await oma(client, "authenticate", token="never-issued")
    assert reply == {"success": True}
    assert (await oma(client, "authenticate", with_token(ADMIN["user"], "never-issued")))[
        "error_number"
    ] == 1


async def test_fetch_extra_info_lists_the_admins_company(client: Client) -> None:
    reply = await oma(client, "authenticate", fetch_extra_info=True)
    assert reply["extra_info"]["roles"] == ["Demo Co"]
    assert reply["extra_info"]["user"] == "admin@demo.adm"


async def test_revoke_tokens_makes_every_issued_token_fail(
    client: Client, sandbox: Sandbox
) -> None:
    token = await session_token(client)
    sandbox.revoke_tokens()
    reply = await oma(
        client, "get_user", with_token("admin@demo.adm", token), user="bob@demo.example"
    )
    assert reply["error_number"] == 1


async def test_reject_logins_refuses_password_logins_but_not_tokens(
    client: Client, sandbox: Sandbox
) -> None:
    token = await session_token(client)
    sandbox.faults.reject_logins = Fault()
    assert (await oma(client, "authenticate"))["error_number"] == 1
    assert (await oma(client, "authenticate", with_token("admin@demo.adm", token)))["success"]


async def test_admin_login_and_password_are_configurable(aiohttp_client: AiohttpClient) -> None:
    sandbox = Sandbox(user="gw@example.adm", password="s3cret-value")
    client = await aiohttp_client(create_sandbox_app(sandbox))
    admin = {"user": "gw@example.adm", "password": "s3cret-value"}
    assert (await oma(client, "authenticate", admin))["success"] is True
    assert (await oma(client, "authenticate", ADMIN))["error_number"] == 1
    reply = await oma(client, "get_user", admin, user="bob@demo.example")
    assert reply["success"] is True


async def test_requests_record_client_user_and_how_they_authenticated(
    client: Client, sandbox: Sandbox
) -> None:
    token = await session_token(client, {**ADMIN, "client": "acme-gw/1.0 caller=billing"})
    await oma(client, "echo", {"user": "admin@demo.adm", "token": token})
    first, second = sandbox.requests
    assert (first.method, first.client, first.user, first.auth, first.token) == (
        "authenticate",
        "acme-gw/1.0 caller=billing",
        "admin@demo.adm",
        "password",
        None,
    )
    assert (second.method, second.client, second.auth, second.token) == (
        "echo",
        None,
        "token",
        token,
    )


async def test_authenticate_count_counts_only_authenticate_calls(
    client: Client, sandbox: Sandbox
) -> None:
    await session_token(client)
    await oma(client, "authenticate", {"user": "admin@demo.adm", "password": "wrong"})
    await oma(client, "get_user", user="bob@demo.example")
    assert sandbox.authenticate_count == 2


async def test_expired_tokens_are_swept_when_many_are_issued(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    for _ in range(1000):
        sandbox.tokens.issue("admin@demo.adm", 10)
    clock.advance(10)
    for _ in range(100):
        sandbox.tokens.issue("admin@demo.adm", 10)
    assert len(sandbox.tokens) < 200


async def test_issued_token_can_be_looked_up_with_its_user_and_expiry(
    client: Client, sandbox: Sandbox, clock: ManualClock
) -> None:
    token = await session_token(client, session_token_duration=600)
    record = sandbox.tokens.lookup(token)
    assert record is not None
    assert (record.user, record.kind, record.expires_at) == ("admin@demo.adm", "oma", clock() + 600)
    assert sandbox.tokens.lookup("never-issued") is None
