"""generate_token: token types, single-use sso, the oma flag and its permission."""

from __future__ import annotations

from gateway.sandbox import ManualClock

from .support import DOMAIN_ADMIN, Client, oma, with_token

BOB = "bob@demo.example"


async def mint(client: Client, credentials: dict[str, str] | None = None, **fields: object) -> str:
    reply = await oma(client, "generate_token", credentials, user=BOB, reason="test", **fields)
    assert reply["success"] is True, reply
    token: str = reply["token"]
    return token


async def logs_in(client: Client, token: str) -> bool:
    # authenticate, not get_user: a plain mailbox may call nothing else (roles.py).
    reply = await oma(client, "authenticate", with_token(BOB, token))
    return bool(reply["success"])


async def test_defaults_to_a_24_hour_session_token(client: Client) -> None:
    reply = await oma(client, "generate_token", user=BOB, reason="support")
    assert reply["duration"] == 24
    assert reply["token"]


async def test_user_and_reason_are_required(client: Client) -> None:
    assert (await oma(client, "generate_token", user=BOB))["error_number"] == 5
    assert (await oma(client, "generate_token", reason="why"))["error_number"] == 5


async def test_target_user_must_exist(client: Client) -> None:
    reply = await oma(client, "generate_token", user="ghost@demo.example", reason="x")
    assert reply["error_number"] == 2


async def test_unknown_type_is_error_6(client: Client) -> None:
    reply = await oma(client, "generate_token", user=BOB, reason="x", type="forever")
    assert reply["error_number"] == 6


async def test_oma_type_token_authenticates_oma_calls_for_the_target(client: Client) -> None:
    token = await mint(client, type="oma")
    assert await logs_in(client, token)
    assert await logs_in(client, token)


async def test_plain_session_token_does_not_authenticate_oma_calls(client: Client) -> None:
    assert not await logs_in(client, await mint(client, type="session"))


async def test_session_token_with_oma_flag_authenticates_oma_calls(client: Client) -> None:
    token = await mint(client, type="session", oma=True)
    assert await logs_in(client, token)
    assert await logs_in(client, token)


async def test_sso_token_works_once(client: Client) -> None:
    token = await mint(client, type="sso", oma=True)
    assert await logs_in(client, token)
    assert not await logs_in(client, token)


async def test_failed_login_does_not_spend_an_sso_token(client: Client) -> None:
    token = await mint(client, type="sso", oma=True)
    reply = await oma(client, "authenticate", with_token("carol@demo.example", token))
    assert reply["error_number"] == 1
    assert await logs_in(client, token)


async def test_oma_flag_is_refused_for_a_domain_admin(client: Client) -> None:
    reply = await oma(client, "generate_token", DOMAIN_ADMIN, user=BOB, reason="x", oma=True)
    assert reply["error_number"] == 4


async def test_domain_admin_may_mint_plain_tokens_in_their_domain(client: Client) -> None:
    reply = await oma(client, "generate_token", DOMAIN_ADMIN, user=BOB, reason="x")
    assert reply["success"] is True


async def test_domain_admin_may_not_mint_tokens_outside_their_domain(client: Client) -> None:
    reply = await oma(client, "generate_token", DOMAIN_ADMIN, user="erin@demo.test", reason="x")
    assert reply["error_number"] == 4


async def test_duration_is_in_hours(client: Client, clock: ManualClock) -> None:
    token = await mint(client, type="oma", duration=2)
    clock.advance(2 * 3600 - 1)
    assert await logs_in(client, token)
    clock.advance(1)
    assert not await logs_in(client, token)


async def test_non_positive_duration_is_error_6(client: Client) -> None:
    reply = await oma(client, "generate_token", user=BOB, reason="x", duration=0)
    assert reply["error_number"] == 6


async def test_chosen_token_value_is_used(client: Client) -> None:
    token = await mint(client, type="oma", token="bob-support-token")
    assert token == "bob-support-token"
    assert await logs_in(client, "bob-support-token")
