"""The stats_snapshot and migration_trace links: served on GET for 15 minutes, to their
requester's login and token only."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from gateway.sandbox import ManualClock, Sandbox
from gateway.sandbox.files import DOWNLOAD_SECONDS, DownloadStore

from .support import ADMIN, DOMAIN_ADMIN, OK, Client, oma, outcome

SNAPSHOT = {"type": "domain", "object": "demo.example", "date": "2026-11"}


async def snapshot_link(client: Client, credentials: dict[str, str] | None = None) -> str:
    reply = await oma(client, "stats_snapshot", credentials, **SNAPSHOT)
    assert reply["success"] is True, reply
    link: str = reply["snapshot"]
    return link


def path_of(link: str) -> str:
    url = urlsplit(link)
    return f"{url.path}?{url.query}"


def with_query(link: str, **changes: str) -> str:
    url = urlsplit(link)
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    return f"{url.path}?{urlencode({**query, **changes})}"


async def fetch(client: Client, path: str) -> tuple[int, str]:
    response = await client.get(path)
    return response.status, await response.text()


async def test_a_snapshot_link_serves_the_file(client: Client) -> None:
    response = await client.get(path_of(await snapshot_link(client)))
    assert response.status == 200
    assert response.content_type == "text/csv"
    assert "snapshot-demo.example-2026-11.csv" in response.headers["Content-Disposition"]
    assert (await response.text()).splitlines() == ["domain,users,date", "demo.example,8,2026-11"]


async def test_a_company_snapshot_lists_the_companys_domains(client: Client) -> None:
    fields = {"type": "company", "object": "Demo Co", "date": "2026-11"}
    link = (await oma(client, "stats_snapshot", None, **fields))["snapshot"]
    status, text = await fetch(client, path_of(link))
    assert status == 200
    assert [line.split(",")[0] for line in text.splitlines()[1:]] == ["demo.example", "demo.test"]


async def test_a_migration_trace_link_serves_the_mailboxs_trace(client: Client) -> None:
    reply = await oma(client, "migration_trace", DOMAIN_ADMIN, job="j-7", user="bob@demo.example")
    query = parse_qs(urlsplit(reply["trace"]).query)
    assert query["user"] == ["domainadmin@demo.example"]
    status, text = await fetch(client, path_of(reply["trace"]))
    assert status == 200
    assert text.startswith("job j-7: migrated bob@demo.example")


async def test_migration_trace_needs_a_reachable_existing_mailbox(client: Client) -> None:
    outside = {"job": "j", "user": "erin@demo.test"}
    assert await outcome(client, "migration_trace", DOMAIN_ADMIN, **outside) == 4
    missing = {"job": "j", "user": "ghost@demo.example"}
    assert await outcome(client, "migration_trace", DOMAIN_ADMIN, **missing) == 2


async def test_a_link_serves_again_until_fifteen_minutes_then_never(
    client: Client, clock: ManualClock
) -> None:
    path = path_of(await snapshot_link(client))
    clock.advance(DOWNLOAD_SECONDS - 1)
    assert (await fetch(client, path))[0] == 200
    assert (await fetch(client, path))[0] == 200
    clock.advance(1)
    status, text = await fetch(client, path)
    assert status == 403
    assert '"error_number":1' in text


async def test_a_wrong_token_or_another_login_gets_an_error(client: Client) -> None:
    link = await snapshot_link(client)
    other = path_of(await snapshot_link(client, DOMAIN_ADMIN))
    other_token = parse_qs(urlsplit(other).query)["token"][0]
    for path in (
        with_query(link, token="0" * 32),
        with_query(link, token=other_token),  # a live token, of another requester
        with_query(link, user="domainadmin@demo.example"),
        with_query(link, user=""),
        "/api/oma_file/get",
    ):
        status, text = await fetch(client, path)
        assert status == 403, path
        assert '"success":false' in text and "demo.example,8" not in text


async def test_the_link_never_carries_the_requesters_session_token(client: Client) -> None:
    session = (await oma(client, "authenticate", generate_session_token=True))["session_token"]
    credentials = {"user": "admin@demo.adm", "token": session}
    assert session not in await snapshot_link(client, credentials)


async def test_served_files_are_counted_for_tests(client: Client) -> None:
    path = path_of(await snapshot_link(client))
    await fetch(client, path)
    await fetch(client, with_query(path, token="bad"))
    counts = await (await client.get("/_sandbox/requests")).json()
    assert counts["downloads_served"] == 1


async def test_links_can_point_at_a_chosen_base(client: Client, sandbox: Sandbox) -> None:
    sandbox.download_base = "https://admin.test.hostedemail.com"
    link = await snapshot_link(client)
    assert link.startswith("https://admin.test.hostedemail.com/api/oma_file/get?")
    assert (await fetch(client, path_of(link)))[0] == 200


async def test_a_job_id_cannot_break_the_download_header(client: Client) -> None:
    fields = {"job": 'x"\r\nSet-Cookie: a=b', "user": "bob@demo.example"}
    reply = await oma(client, "migration_trace", None, **fields)
    response = await client.get(path_of(reply["trace"]))
    assert response.status == 200
    assert "Set-Cookie" not in response.headers


def test_expired_links_are_swept_so_the_store_stays_bounded() -> None:
    clock = ManualClock()
    store = DownloadStore(clock)
    for _ in range(1000):
        store.issue("a@b.example", "f", b"x", "text/plain")
    clock.advance(DOWNLOAD_SECONDS)
    for _ in range(100):
        store.issue("a@b.example", "f", b"x", "text/plain")
    assert len(store) < 200


async def test_reset_forgets_every_link(client: Client, sandbox: Sandbox) -> None:
    path = path_of(await snapshot_link(client))
    sandbox.reset()
    assert (await fetch(client, path))[0] == 403
    assert await outcome(client, "get_user", ADMIN, user="bob@demo.example") == OK
