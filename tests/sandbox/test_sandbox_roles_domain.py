"""The roles inside one domain (domain, mail, workgroup), plain mailboxes, and admin logins as
targets."""

from __future__ import annotations

import pytest

from gateway.sandbox.catalogue import load_catalogue

from .support import (
    ADMIN,
    ALICE,
    DOMAIN_ADMIN,
    MAIL_ADMIN,
    OK,
    WORKGROUP_ADMIN,
    Client,
    oma,
    outcome,
)

BOB = "bob@demo.example"
DAVE = "dave@demo.example"  # in the `sales` workgroup, with eve and wgadmin
ERIN = "erin@demo.test"
ZOE = "zoe@other.example"


async def test_domain_admin_manages_its_domain_and_its_workgroups(client: Client) -> None:
    new = {"user": "new@demo.example", "attributes": {"password": "pw-123", "quota": 10}}
    assert await outcome(client, "change_user", DOMAIN_ADMIN, **new) == OK
    assert await outcome(client, "delete_user", DOMAIN_ADMIN, user="new@demo.example") == OK
    group = {"domain": "demo.example", "workgroup": "ops"}
    assert await outcome(client, "create_workgroup", DOMAIN_ADMIN, **group) == OK
    assert await outcome(client, "get_domain_changes", DOMAIN_ADMIN, domain="demo.example") == OK


async def test_domain_admin_touches_nothing_outside_its_domain(client: Client) -> None:
    assert await outcome(client, "get_user", DOMAIN_ADMIN, user=ERIN) == 4
    assert await outcome(client, "change_user", DOMAIN_ADMIN, user=ERIN, attributes={}) == 4
    assert await outcome(client, "delete_user", DOMAIN_ADMIN, user=ZOE) == 4
    assert await outcome(client, "generate_token", DOMAIN_ADMIN, user=ZOE, reason="x") == 4
    group = {"domain": "demo.test", "workgroup": "ops"}
    assert await outcome(client, "create_workgroup", DOMAIN_ADMIN, **group) == 4
    assert await outcome(client, "get_domain_changes", DOMAIN_ADMIN, domain="demo.test") == 4
    criteria = {"domain": "demo.test"}
    assert await outcome(client, "search_workgroups", DOMAIN_ADMIN, criteria=criteria) == 4
    assert await outcome(client, "get_company", DOMAIN_ADMIN, company="Demo Co") == 4


async def test_domain_admin_neither_creates_domains_nor_mints_oma_tokens(client: Client) -> None:
    domain = {"domain": "mine.example", "attributes": {}}
    assert await outcome(client, "change_domain", DOMAIN_ADMIN, **domain) == 4
    token = {"user": BOB, "reason": "x", "type": "oma"}
    assert await outcome(client, "generate_token", DOMAIN_ADMIN, **token) == 4
    quota = {"quota": 10}
    assert (
        await outcome(
            client, "change_domain", DOMAIN_ADMIN, domain="demo.example", attributes=quota
        )
        == 4
    )


async def test_mail_admin_sets_passwords_forwards_and_aliases(client: Client) -> None:
    attributes = {
        "password": "new-pass-1",
        "forward_recipients": ["bob@elsewhere.example"],
        "delivery_forward": True,
        "aliases": ["robert@demo.example"],
    }
    assert await outcome(client, "change_user", MAIL_ADMIN, user=BOB, attributes=attributes) == OK
    assert await outcome(client, "get_user", MAIL_ADMIN, user="robert@demo.example") == OK
    criteria = {"domain": "demo.example"}
    assert await outcome(client, "search_users", MAIL_ADMIN, criteria=criteria) == OK


@pytest.mark.parametrize("attribute", [{"quota": 10}, {"name": "B"}, {"status": "suspended"}])
async def test_mail_admin_sets_nothing_else(client: Client, attribute: dict[str, object]) -> None:
    assert await outcome(client, "change_user", MAIL_ADMIN, user=BOB, attributes=attribute) == 4


async def test_mail_admin_neither_creates_nor_deletes_nor_leaves_its_domain(
    client: Client,
) -> None:
    new = {"user": "new@demo.example", "attributes": {}}
    assert await outcome(client, "change_user", MAIL_ADMIN, **new) == 4
    assert await outcome(client, "delete_user", MAIL_ADMIN, user=BOB) == 4
    assert await outcome(client, "get_domain", MAIL_ADMIN, domain="demo.example") == 4
    assert await outcome(client, "get_user", MAIL_ADMIN, user=ERIN) == 4
    # Token minting is not among a mail admin's rights as §7 lists them (the stricter reading).
    assert await outcome(client, "generate_token", MAIL_ADMIN, user=BOB, reason="x") == 4


async def test_workgroup_admin_manages_the_mailboxes_of_its_workgroup(client: Client) -> None:
    assert await outcome(client, "get_user", WORKGROUP_ADMIN, user=DAVE) == OK
    title = {"title": "Lead"}
    assert await outcome(client, "change_user", WORKGROUP_ADMIN, user=DAVE, attributes=title) == OK
    new = {"user": "sam@demo.example", "attributes": {"password": "pw-123"}}
    assert await outcome(client, "change_user", WORKGROUP_ADMIN, **new) == OK
    created = await oma(client, "get_user", user="sam@demo.example")
    assert created["attributes"]["workgroup"] == "sales"
    assert await outcome(client, "delete_user", WORKGROUP_ADMIN, user=DAVE) == OK


async def test_workgroup_admin_sees_only_its_workgroup(client: Client) -> None:
    reply = await oma(client, "search_users", WORKGROUP_ADMIN, criteria={"domain": "demo.example"})
    users = [row["user"] for row in reply["users"]]
    assert users == ["dave@demo.example", "eve@demo.example", "wgadmin@demo.example"]


async def test_workgroup_admin_touches_no_other_workgroup(client: Client) -> None:
    assert await outcome(client, "get_user", WORKGROUP_ADMIN, user=BOB) == 4
    assert await outcome(client, "delete_user", WORKGROUP_ADMIN, user=BOB) == 4
    move = {"workgroup": "staff"}
    assert await outcome(client, "change_user", WORKGROUP_ADMIN, user=DAVE, attributes=move) == 4
    new = {"user": "sam@demo.example", "attributes": {"workgroup": "staff"}}
    assert await outcome(client, "change_user", WORKGROUP_ADMIN, **new) == 4
    rename = {"user": DAVE, "new_name": "david@demo.example"}
    assert await outcome(client, "rename_user", WORKGROUP_ADMIN, **rename) == 4


METHODS_BUT_AUTHENTICATE = sorted(set(load_catalogue()) - {"authenticate"})


@pytest.mark.parametrize("method", METHODS_BUT_AUTHENTICATE)
async def test_a_plain_mailbox_only_authenticates(client: Client, method: str) -> None:
    # Whether users may act on themselves is not established (§7): the stricter reading.
    fields = {"user": "alice@demo.example", "reason": "x", "attributes": {}}
    assert await outcome(client, method, ALICE, **fields) == 4


@pytest.mark.parametrize("target", ["admin@demo.adm", "tokenonly@demo.adm"])
async def test_no_one_reaches_a_dot_adm_login_not_even_itself(client: Client, target: str) -> None:
    token = {"user": target, "reason": "x", "type": "oma", "duration": 876000}
    assert await outcome(client, "generate_token", ADMIN, **token) == 4
    password = {"user": target, "attributes": {"password": "taken-over"}}
    assert await outcome(client, "change_user", ADMIN, **password) == 4
    assert await outcome(client, "delete_user", ADMIN, user=target) == 4
    assert await outcome(client, "get_user", ADMIN, user=target) == 4


async def test_an_admin_mailbox_is_changed_only_by_a_company_admin(client: Client) -> None:
    target = {"user": "domainadmin@demo.example", "attributes": {"password": "taken-over"}}
    assert await outcome(client, "change_user", DOMAIN_ADMIN, **target) == 4
    assert await outcome(client, "change_user", MAIL_ADMIN, **target) == 4
    token = {"user": "mailadmin@demo.example", "reason": "x"}
    assert await outcome(client, "generate_token", DOMAIN_ADMIN, **token) == 4
    assert await outcome(client, "delete_user", DOMAIN_ADMIN, user="wgadmin@demo.example") == 4
    assert await outcome(client, "change_user", ADMIN, **target) == OK
