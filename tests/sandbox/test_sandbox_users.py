"""Mailbox methods: reads, the change_user upsert and its errors, deletes, renames, searches."""

from __future__ import annotations

from .support import ALICE, DOMAIN_ADMIN, Client, oma


async def test_get_user_never_returns_the_password(client: Client) -> None:
    reply = await oma(client, "get_user", user="alice@demo.example")
    assert reply["success"] is True
    assert reply["type"] == "mailbox"
    assert "password" not in reply["attributes"]
    assert "demo-password" not in str(reply)


async def test_get_user_on_a_creatable_mailbox_is_error_2_with_the_creation_form(
    client: Client,
) -> None:
    reply = await oma(client, "get_user", user="newbie@demo.example")
    assert reply["success"] is False
    assert reply["error_number"] == 2
    assert "password" in reply["settable_attributes"]
    assert reply["metadata"]["defaults"]["quota"] == 1024
    assert "status" in reply["metadata"]["options"]


async def test_get_user_in_a_domain_the_requester_cannot_create_in_is_plain_error_2(
    client: Client,
) -> None:
    outside = await oma(client, "get_user", DOMAIN_ADMIN, user="newbie@demo.test")
    nowhere = await oma(client, "get_user", user="someone@unknown.example")
    for reply in (outside, nowhere):
        assert reply["error_number"] == 2
        assert "settable_attributes" not in reply
        assert "metadata" not in reply


async def test_get_user_through_an_alias_shows_the_real_mailbox(client: Client) -> None:
    reply = await oma(client, "get_user", user="info@demo.example")
    assert reply["type"] == "alias"
    assert reply["attributes"]["user"] == "alice@demo.example"


async def test_domain_admin_cannot_read_mailboxes_of_another_domain(client: Client) -> None:
    reply = await oma(client, "get_user", DOMAIN_ADMIN, user="erin@demo.test")
    assert reply["error_number"] == 4


async def test_change_user_creates_a_missing_mailbox(client: Client) -> None:
    attributes = {"password": "first-pass", "name": "New Bie", "quota": 2048}
    created = await oma(client, "change_user", user="newbie@demo.example", attributes=attributes)
    assert created["success"] is True
    assert created["audit"].startswith("month")
    reply = await oma(client, "get_user", user="newbie@demo.example")
    assert reply["attributes"]["quota"] == 2048
    login = {"user": "newbie@demo.example", "password": "first-pass"}
    assert (await oma(client, "authenticate", login))["success"] is True


async def test_change_user_modifies_an_existing_mailbox(client: Client) -> None:
    await oma(client, "change_user", user="bob@demo.example", attributes={"title": "Boss"})
    reply = await oma(client, "get_user", user="bob@demo.example")
    assert reply["attributes"]["title"] == "Boss"
    assert reply["attributes"]["name"] == "Bob Example"


async def test_create_only_on_an_existing_mailbox_is_error_7(client: Client) -> None:
    reply = await oma(
        client, "change_user", user="bob@demo.example", attributes={"title": "x"}, create_only=True
    )
    assert reply["error_number"] == 7
    after = await oma(client, "get_user", user="bob@demo.example")
    assert after["attributes"]["title"] == ""


async def test_create_only_creates_a_missing_mailbox(client: Client) -> None:
    reply = await oma(
        client, "change_user", user="fresh@demo.example", attributes={}, create_only=True
    )
    assert reply["success"] is True


async def test_changing_through_an_alias_is_error_3(client: Client) -> None:
    reply = await oma(client, "change_user", user="info@demo.example", attributes={"title": "x"})
    assert reply["error_number"] == 3


async def test_unknown_attribute_is_error_6(client: Client) -> None:
    reply = await oma(client, "change_user", user="bob@demo.example", attributes={"imap": True})
    assert reply["error_number"] == 6


async def test_quota_above_the_mailbox_cap_is_error_6(client: Client) -> None:
    reply = await oma(client, "change_user", user="bob@demo.example", attributes={"quota": 20481})
    assert reply["error_number"] == 6


async def test_creating_in_a_missing_domain_is_error_2(client: Client) -> None:
    reply = await oma(client, "change_user", user="a@nowhere.example", attributes={})
    assert reply["error_number"] == 2


async def test_a_plain_mailbox_may_not_change_even_its_own_password(client: Client) -> None:
    # Whether OMA lets users change themselves is not established: the stricter reading.
    own = await oma(
        client, "change_user", ALICE, user="alice@demo.example", attributes={"password": "p2"}
    )
    assert own["error_number"] == 4
    assert (await oma(client, "authenticate", ALICE))["success"] is True


async def test_new_alias_taken_by_another_mailbox_is_error_7(client: Client) -> None:
    reply = await oma(
        client,
        "change_user",
        user="bob@demo.example",
        attributes={"aliases": ["info@demo.example"]},
    )
    assert reply["error_number"] == 7


async def test_moving_an_alias_frees_the_old_name(client: Client) -> None:
    await oma(client, "change_user", user="alice@demo.example", attributes={"aliases": []})
    reply = await oma(
        client,
        "change_user",
        user="bob@demo.example",
        attributes={"aliases": ["info@demo.example"]},
    )
    assert reply["success"] is True
    read = await oma(client, "get_user", user="info@demo.example")
    assert read["attributes"]["user"] == "bob@demo.example"


async def test_delete_user_removes_the_mailbox_and_its_logins(client: Client) -> None:
    assert (await oma(client, "delete_user", user="alice@demo.example"))["success"] is True
    assert (await oma(client, "get_user", user="alice@demo.example"))["error_number"] == 2
    assert (await oma(client, "authenticate", ALICE))["error_number"] == 1
    assert (await oma(client, "delete_user", user="alice@demo.example"))["error_number"] == 2


async def test_delete_user_by_alias_is_error_3(client: Client) -> None:
    assert (await oma(client, "delete_user", user="info@demo.example"))["error_number"] == 3


async def test_rename_user_moves_the_mailbox(client: Client) -> None:
    reply = await oma(
        client, "rename_user", user="bob@demo.example", new_name="robert@demo.example"
    )
    assert reply["success"] is True
    assert (await oma(client, "get_user", user="bob@demo.example"))["error_number"] == 2
    assert (await oma(client, "get_user", user="robert@demo.example"))["success"] is True


async def test_rename_onto_an_existing_name_is_error_7(client: Client) -> None:
    reply = await oma(client, "rename_user", user="bob@demo.example", new_name="eve@demo.example")
    assert reply["error_number"] == 7
