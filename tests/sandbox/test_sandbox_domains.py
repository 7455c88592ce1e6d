"""Domain methods: get_domain with its creation form, and the change_domain upsert."""

from __future__ import annotations

from .support import DOMAIN_ADMIN, Client, oma


async def test_get_domain_returns_its_attributes_and_company(client: Client) -> None:
    reply = await oma(client, "get_domain", domain="demo.example")
    assert reply["success"] is True
    assert reply["attributes"]["company"] == "Demo Co"
    assert "quota" in reply["settable_attribute"]


async def test_get_domain_on_a_creatable_domain_is_error_2_with_defaults(client: Client) -> None:
    reply = await oma(client, "get_domain", domain="new.example")
    assert reply["error_number"] == 2
    assert reply["metadata"]["defaults"]["language"] == "en"
    assert "language" in reply["metadata"]["options"]
    assert "max_users" in reply["settable_attribute"]


async def test_get_domain_missing_for_a_domain_admin_is_plain_error_2(client: Client) -> None:
    reply = await oma(client, "get_domain", DOMAIN_ADMIN, domain="new.example")
    assert reply["error_number"] == 2
    assert "metadata" not in reply


async def test_change_domain_creates_then_modifies(client: Client) -> None:
    created = await oma(client, "change_domain", domain="new.example", attributes={"quota": 50})
    assert created["success"] is True
    assert "audit" in created
    await oma(client, "change_domain", domain="new.example", attributes={"language": "fr"})
    reply = await oma(client, "get_domain", domain="new.example")
    assert (reply["attributes"]["quota"], reply["attributes"]["language"]) == (50, "fr")


async def test_change_domain_create_only_on_existing_is_error_7(client: Client) -> None:
    reply = await oma(
        client, "change_domain", domain="demo.example", attributes={}, create_only=True
    )
    assert reply["error_number"] == 7


async def test_change_domain_through_a_domain_alias_is_error_3(client: Client) -> None:
    reply = await oma(client, "change_domain", domain="demo-alias.example", attributes={})
    assert reply["error_number"] == 3


async def test_change_domain_unknown_attribute_is_error_6(client: Client) -> None:
    reply = await oma(client, "change_domain", domain="demo.example", attributes={"mx": "x"})
    assert reply["error_number"] == 6


async def test_domain_admin_cannot_create_domains(client: Client) -> None:
    reply = await oma(client, "change_domain", DOMAIN_ADMIN, domain="mine.example", attributes={})
    assert reply["error_number"] == 4


async def test_domain_admin_may_change_their_own_domain(client: Client) -> None:
    reply = await oma(
        client, "change_domain", DOMAIN_ADMIN, domain="demo.example", attributes={"timezone": "CET"}
    )
    assert reply["success"] is True


async def test_new_domain_alias_resolves_for_reads_and_refuses_changes(client: Client) -> None:
    aliases = {"aliases": ["demo-alias.example", "demo.example.net"]}
    reply = await oma(client, "change_domain", domain="demo.example", attributes=aliases)
    assert reply["success"] is True
    read = await oma(client, "get_domain", domain="demo.example.net")
    assert read["attributes"]["aliases"] == ["demo-alias.example", "demo.example.net"]
    change = await oma(client, "change_domain", domain="demo.example.net", attributes={})
    assert change["error_number"] == 3


async def test_domain_alias_held_by_another_domain_is_error_7(client: Client) -> None:
    taken = {"aliases": ["demo-alias.example"]}
    reply = await oma(client, "change_domain", domain="demo.test", attributes=taken)
    assert reply["error_number"] == 7


async def test_moving_a_domain_to_a_foreign_company_is_error_4(client: Client) -> None:
    reply = await oma(
        client, "change_domain", domain="demo.test", attributes={"company": "Other Co"}
    )
    assert reply["error_number"] == 4


async def test_invalid_new_domain_name_is_error_6(client: Client) -> None:
    reply = await oma(client, "change_domain", domain="nodots", attributes={})
    assert reply["error_number"] == 6
