"""HTTP statuses, OMA's envelope, credentials checks and required fields."""

from __future__ import annotations

from gateway.sandbox import Sandbox

from .support import ADMIN, Client, oma


async def test_body_that_is_not_json_is_http_400(client: Client) -> None:
    response = await client.post("/api/get_user", data=b"{not json")
    assert response.status == 400


async def test_json_body_that_is_not_an_object_is_http_400(client: Client) -> None:
    response = await client.post("/api/get_user", json=[{"credentials": ADMIN}])
    assert response.status == 400


async def test_method_outside_the_catalogue_is_http_404(client: Client) -> None:
    response = await client.post("/api/steal_everything", json={"credentials": ADMIN})
    assert response.status == 404


async def test_bad_password_is_http_200_with_error_1_and_its_exact_text(client: Client) -> None:
    reply = await oma(client, "get_user", {"user": "admin@demo.adm", "password": "nope"}, user="x")
    assert reply == {
        "success": False,
        "error_number": 1,
        "error": "Invalid credentials supplied in request",
    }


async def test_unknown_user_is_error_1(client: Client) -> None:
    reply = await oma(client, "authenticate", {"user": "ghost@demo.example", "password": "x"})
    assert reply["error_number"] == 1


async def test_missing_credentials_object_is_error_1(client: Client) -> None:
    response = await client.post("/api/authenticate", json={})
    assert (await response.json())["error_number"] == 1


async def test_credentials_of_the_wrong_shape_are_error_5(client: Client) -> None:
    reply = await oma(client, "authenticate", {"user": "admin@demo.adm", "password": 42})
    assert reply["error_number"] == 5
    response = await client.post("/api/authenticate", json={"credentials": "admin"})
    assert (await response.json())["error_number"] == 5


async def test_credentials_without_password_or_token_are_error_1(client: Client) -> None:
    reply = await oma(client, "authenticate", {"user": "admin@demo.adm"})
    assert reply["error_number"] == 1


async def test_seeded_mailbox_with_no_password_set_cannot_log_in_with_an_empty_one(
    client: Client,
) -> None:
    created = await oma(client, "change_user", user="nopass@demo.example", attributes={})
    assert created["success"] is True
    reply = await oma(client, "authenticate", {"user": "nopass@demo.example", "password": ""})
    assert reply["error_number"] == 1


async def test_missing_required_field_is_error_5(client: Client) -> None:
    reply = await oma(client, "get_user")
    assert reply["success"] is False
    assert reply["error_number"] == 5
    assert "user" in reply["error"]


async def test_credentials_are_checked_before_required_fields(client: Client) -> None:
    reply = await oma(client, "get_user", {"user": "admin@demo.adm", "password": "wrong"})
    assert reply["error_number"] == 1


async def test_field_of_the_wrong_type_is_error_5(client: Client) -> None:
    reply = await oma(client, "get_user", user=["alice@demo.example"])
    assert reply["error_number"] == 5


async def test_uncustomised_catalogued_method_answers_a_generic_success(client: Client) -> None:
    reply = await oma(client, "get_user_folders", user="alice@demo.example")
    assert reply == {"success": True}


async def test_generic_mutating_method_carries_an_audit_id(client: Client) -> None:
    reply = await oma(client, "logout_user", user="alice@demo.example")
    assert reply["success"] is True
    assert reply["audit"].startswith("month")
    prefix, _, suffix = reply["audit"].partition("_")
    assert prefix[len("month") :].isdigit()
    assert len(suffix) == 9


async def test_generic_method_still_requires_credentials(client: Client) -> None:
    reply = await oma(client, "get_user_folders", {"user": "x", "password": "y"}, user="x")
    assert reply["error_number"] == 1


async def test_unexpected_faults_are_none_by_default(sandbox: Sandbox) -> None:
    assert all(value is None for value in sandbox.faults.to_json().values())
