"""echo, stats_snapshot and the bulk methods' per-item results."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from .support import ADMIN, DOMAIN_ADMIN, Client, oma, session_token, with_token


async def test_echo_returns_the_posted_body_including_credentials(client: Client) -> None:
    credentials = {**ADMIN, "client": "acme"}
    reply = await oma(client, "echo", credentials, anything={"nested": [1, 2]})
    assert reply == {"success": True, "credentials": credentials, "anything": {"nested": [1, 2]}}


async def test_echo_requires_credentials_like_any_method(client: Client) -> None:
    reply = await oma(client, "echo", {"user": "admin@demo.adm", "password": "bad"}, a=1)
    assert reply["error_number"] == 1


async def test_stats_snapshot_url_names_the_requester_and_a_fresh_download_token(
    client: Client,
) -> None:
    token = await session_token(client)
    reply = await oma(
        client,
        "stats_snapshot",
        with_token("admin@demo.adm", token),
        type="domain",
        object="demo.example",
        date="2024-05",
    )
    url = urlsplit(reply["snapshot"])
    # The link points back at the origin the call came in on, so it can be fetched.
    assert (url.scheme, url.netloc, url.path) == (
        "http",
        f"{client.host}:{client.port}",
        "/api/oma_file/get",
    )
    query = parse_qs(url.query)
    assert query["user"] == ["admin@demo.adm"]
    assert len(query["token"][0]) == 32
    assert query["token"] != [token]


async def test_stats_snapshot_after_password_login_still_embeds_a_token(client: Client) -> None:
    reply = await oma(client, "stats_snapshot", type="company", object="Demo Co", date="2024-05")
    assert len(parse_qs(urlsplit(reply["snapshot"]).query)["token"][0]) == 32


async def test_restore_deleted_messages_reports_each_id(client: Client) -> None:
    reply = await oma(
        client, "restore_deleted_messages", user="alice@demo.example", ids=["d1", "nope", "d2"]
    )
    assert reply["success"] is True
    assert reply["ids"] == [
        {"id": "d1", "success": True},
        {
            "id": "nope",
            "success": False,
            "error_number": 2,
            "error": "The requested object does not exist",
        },
        {"id": "d2", "success": True},
    ]


async def test_restoring_the_same_message_twice_fails_the_second_time(client: Client) -> None:
    first = await oma(client, "restore_deleted_messages", user="alice@demo.example", ids=["d3"])
    second = await oma(client, "restore_deleted_messages", user="alice@demo.example", ids=["d3"])
    assert first["ids"][0]["success"] is True
    assert second["ids"][0]["error_number"] == 2


async def test_move_user_messages_counts_the_moved_ones(client: Client) -> None:
    reply = await oma(
        client,
        "move_user_messages",
        user="alice@demo.example",
        ids=["m1", "m9", "m2"],
        folder="Archive",
    )
    assert [item["success"] for item in reply["ids"]] == [True, False, True]
    assert reply["count"] == 2


async def test_bulk_ids_must_be_a_list(client: Client) -> None:
    reply = await oma(client, "restore_deleted_messages", user="alice@demo.example", ids="d1")
    assert reply["error_number"] == 5


async def test_bulk_call_on_a_missing_mailbox_fails_as_a_whole(client: Client) -> None:
    reply = await oma(client, "restore_deleted_contacts", user="ghost@demo.example", ids=["c1"])
    assert (reply["success"], reply["error_number"]) == (False, 2)


async def test_stats_snapshot_type_must_be_company_or_domain(client: Client) -> None:
    reply = await oma(client, "stats_snapshot", type="user", object="x", date="2024-05")
    assert reply["error_number"] == 6


async def test_company_stats_are_refused_to_a_domain_admin(client: Client) -> None:
    reply = await oma(
        client, "stats_snapshot", DOMAIN_ADMIN, type="company", object="Demo Co", date="2024-05"
    )
    assert reply["error_number"] == 4


async def test_restore_deleted_contacts_and_malformed_ids(client: Client) -> None:
    reply = await oma(
        client, "restore_deleted_contacts", user="alice@demo.example", ids=["c1", {"x": 1}]
    )
    assert [item["success"] for item in reply["ids"]] == [True, False]
    assert reply["ids"][1]["error_number"] == 5
