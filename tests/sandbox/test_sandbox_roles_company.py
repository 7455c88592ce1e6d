"""The company-wide roles: company_token_only, company_ro, company_view, company_mail, and the
border between companies."""

from __future__ import annotations

import pytest

from gateway.sandbox.catalogue import load_catalogue

from .support import (
    ADMIN,
    MAIL_SETTINGS,
    OK,
    OTHER_ADMIN,
    READ_ONLY,
    TOKEN_ONLY,
    VIEWER,
    Client,
    oma,
    outcome,
    session_token,
)

BOB = "bob@demo.example"
ERIN = "erin@demo.test"
ZOE = "zoe@other.example"
EVERY_METHOD = sorted(load_catalogue())
OTHER_THAN_TOKENS = [m for m in EVERY_METHOD if m not in ("authenticate", "generate_token")]
MUTATING = [name for name, spec in sorted(load_catalogue().items()) if spec.mutating]


async def test_token_only_admin_mints_sso_tokens_for_every_mailbox_of_its_company(
    client: Client,
) -> None:
    for mailbox in (BOB, ERIN):
        reply = await oma(
            client, "generate_token", TOKEN_ONLY, user=mailbox, reason="sso", type="sso"
        )
        assert reply["success"] is True, reply
        assert reply["token"]


async def test_token_only_admin_may_log_in_and_hold_a_session_token(client: Client) -> None:
    assert await session_token(client, TOKEN_ONLY)


@pytest.mark.parametrize(
    "fields",
    [{}, {"type": "session"}, {"type": "oma"}, {"type": "sso", "oma": True}],
    ids=["default-session", "session", "oma", "sso-with-oma"],
)
async def test_token_only_admin_mints_nothing_but_plain_sso(
    client: Client, fields: dict[str, object]
) -> None:
    assert await outcome(client, "generate_token", TOKEN_ONLY, user=BOB, reason="x", **fields) == 4


@pytest.mark.parametrize("target", [ZOE, "admin@demo.adm", "domainadmin@demo.example"])
async def test_token_only_admin_mints_no_token_outside_the_companys_plain_mailboxes(
    client: Client, target: str
) -> None:
    fields = {"user": target, "reason": "x", "type": "sso"}
    assert await outcome(client, "generate_token", TOKEN_ONLY, **fields) == 4


@pytest.mark.parametrize("method", OTHER_THAN_TOKENS)
async def test_token_only_admin_may_call_nothing_else_not_even_reads(
    client: Client, method: str
) -> None:
    fields = {"user": BOB, "domain": "demo.example", "criteria": {"domain": "demo.example"}}
    assert await outcome(client, method, TOKEN_ONLY, **fields) == 4


async def test_read_only_admin_reads_the_whole_company(client: Client) -> None:
    assert await outcome(client, "get_user", READ_ONLY, user=ERIN) == OK
    assert await outcome(client, "get_domain", READ_ONLY, domain="demo.test") == OK
    criteria = {"domain": "demo.example"}
    assert await outcome(client, "search_users", READ_ONLY, criteria=criteria) == OK
    reply = await oma(client, "search_domains", READ_ONLY)
    assert [row["domain"] for row in reply["domains"]] == ["demo.example", "demo.test"]
    assert await outcome(client, "get_company", READ_ONLY, company="Demo Co") == OK


@pytest.mark.parametrize("method", MUTATING)
async def test_read_only_admin_changes_nothing(client: Client, method: str) -> None:
    fields = {"user": BOB, "reason": "x", "type": "sso", "attributes": {"title": "x"}}
    assert await outcome(client, method, READ_ONLY, **fields) == 4


async def test_read_only_admin_does_not_read_another_company(client: Client) -> None:
    assert await outcome(client, "get_user", READ_ONLY, user=ZOE) == 4
    assert await outcome(client, "get_company", READ_ONLY, company="Other Co") == 4


async def test_viewer_sees_every_domain_and_makes_non_billable_changes(client: Client) -> None:
    assert await outcome(client, "get_domain", VIEWER, domain="demo.test") == OK
    title = {"title": "Chief"}
    assert await outcome(client, "change_user", VIEWER, user=ERIN, attributes=title) == OK
    zone = {"timezone": "CET"}
    assert await outcome(client, "change_domain", VIEWER, domain="demo.test", attributes=zone) == OK


async def test_viewer_creates_and_deletes_no_mailbox_or_domain(client: Client) -> None:
    new = {"password": "pw-123"}
    assert (
        await outcome(client, "change_user", VIEWER, user="new@demo.example", attributes=new) == 4
    )
    assert await outcome(client, "delete_user", VIEWER, user=BOB) == 4
    domain = {"domain": "new.example", "attributes": {}}
    assert await outcome(client, "change_domain", VIEWER, **domain) == 4
    assert await outcome(client, "delete_domain", VIEWER, domain="demo.test") == 4
    assert await outcome(client, "restore_user", VIEWER, user=BOB, id="1", new_name=BOB) == 4
    assert await outcome(client, "get_user", ADMIN, user=BOB) == OK


async def test_viewer_does_not_change_what_is_billed(client: Client) -> None:
    quota = {"quota": 4096}
    assert await outcome(client, "change_user", VIEWER, user=BOB, attributes=quota) == 4
    limit = {"max_users": 5}
    assert await outcome(client, "change_domain", VIEWER, domain="demo.test", attributes=limit) == 4


async def test_mail_settings_admin_changes_mailbox_settings_only(client: Client) -> None:
    settings = {"password": "new-pass-1", "forward_recipients": ["x@y.example"]}
    assert await outcome(client, "change_user", MAIL_SETTINGS, user=ERIN, attributes=settings) == OK
    assert await outcome(client, "get_user", MAIL_SETTINGS, user=ERIN) == OK
    assert await outcome(client, "get_domain", MAIL_SETTINGS, domain="demo.test") == 4
    zone = {"timezone": "CET"}
    assert (
        await outcome(client, "change_domain", MAIL_SETTINGS, domain="demo.test", attributes=zone)
        == 4
    )
    quota = {"quota": 4096}
    assert await outcome(client, "change_user", MAIL_SETTINGS, user=ERIN, attributes=quota) == 4
    new = {"user": "new@demo.test", "attributes": {}}
    assert await outcome(client, "change_user", MAIL_SETTINGS, **new) == 4
    assert await outcome(client, "delete_user", MAIL_SETTINGS, user=ERIN) == 4


async def test_company_admin_stops_at_its_company(client: Client) -> None:
    assert await outcome(client, "get_user", ADMIN, user=ZOE) == 4
    assert await outcome(client, "generate_token", ADMIN, user=ZOE, reason="x") == 4
    assert await outcome(client, "get_domain", ADMIN, domain="other.example") == 4
    stats = {"type": "company", "object": "Other Co", "date": "2026-01"}
    assert await outcome(client, "stats_snapshot", ADMIN, **stats) == 4
    assert await outcome(client, "get_user", OTHER_ADMIN, user=ZOE) == OK
    assert await outcome(client, "get_user", OTHER_ADMIN, user=BOB) == 4


async def test_oma_tokens_need_a_company_admin(client: Client) -> None:
    for fields in ({"type": "oma"}, {"type": "session", "oma": True}):
        assert await outcome(client, "generate_token", VIEWER, user=BOB, reason="x", **fields) == 4
        assert await outcome(client, "generate_token", ADMIN, user=BOB, reason="x", **fields) == OK
