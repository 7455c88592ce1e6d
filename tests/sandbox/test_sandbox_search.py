"""search_users and search_domains: criteria, wildcards, sorting and range paging."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.sandbox.handlers.common import page, wildcard

from .support import DOMAIN_ADMIN, Client, oma

DEMO_USERS = [
    "alice@demo.example",
    "bob@demo.example",
    "carol@demo.example",
    "dave@demo.example",
    "domainadmin@demo.example",
    "eve@demo.example",
    "mailadmin@demo.example",
    "wgadmin@demo.example",
]


def names(reply: dict[str, object]) -> list[str]:
    rows = reply["users"]
    assert isinstance(rows, list)
    return [row["user"] for row in rows]


async def test_search_users_lists_a_domain_in_name_order(client: Client) -> None:
    reply = await oma(client, "search_users", criteria={"domain": "demo.example"})
    assert names(reply) == DEMO_USERS
    assert reply["count"] == reply["total_count"] == len(DEMO_USERS)


async def test_search_users_pages_with_range_first_and_limit(client: Client) -> None:
    criteria = {"domain": "demo.example"}
    reply = await oma(client, "search_users", criteria=criteria, range={"first": 2, "limit": 3})
    assert names(reply) == DEMO_USERS[2:5]
    assert (reply["count"], reply["total_count"]) == (3, len(DEMO_USERS))
    last = await oma(client, "search_users", criteria=criteria, range={"first": 5, "limit": 3})
    assert names(last) == DEMO_USERS[5:]


async def test_search_users_sorts_descending_on_request(client: Client) -> None:
    reply = await oma(
        client,
        "search_users",
        criteria={"domain": "demo.example"},
        sort={"direction": "descending"},
    )
    assert names(reply) == DEMO_USERS[::-1]


async def test_search_users_star_wildcard(client: Client) -> None:
    reply = await oma(client, "search_users", criteria={"domain": "demo.example", "match": "*a*e"})
    assert names(reply) == ["alice@demo.example", "dave@demo.example"]


async def test_search_users_question_mark_is_one_character(client: Client) -> None:
    reply = await oma(client, "search_users", criteria={"domain": "demo.example", "match": "?ve"})
    assert names(reply) == ["eve@demo.example"]
    full = await oma(
        client, "search_users", criteria={"domain": "demo.example", "match": "b?b@demo.*"}
    )
    assert names(full) == ["bob@demo.example"]


async def test_search_users_count_is_the_page_and_total_count_all_matches(client: Client) -> None:
    reply = await oma(
        client,
        "search_users",
        criteria={"domain": "demo.example", "match": "*a*"},
        range={"limit": 1},
    )
    # alice, carol, dave, domainadmin, mailadmin and wgadmin
    assert (reply["count"], reply["total_count"]) == (1, 6)


async def test_search_users_needs_criteria_domain(client: Client) -> None:
    assert (await oma(client, "search_users", criteria={}))["error_number"] == 5


async def test_search_users_bad_range_is_error_5(client: Client) -> None:
    reply = await oma(
        client, "search_users", criteria={"domain": "demo.example"}, range={"first": -1}
    )
    assert reply["error_number"] == 5


async def test_search_users_outside_the_admins_domain_is_error_4(client: Client) -> None:
    reply = await oma(client, "search_users", DOMAIN_ADMIN, criteria={"domain": "demo.test"})
    assert reply["error_number"] == 4


async def test_search_domains_pages_the_companys_domains(client: Client) -> None:
    everything = await oma(client, "search_domains")
    assert [row["domain"] for row in everything["domains"]] == ["demo.example", "demo.test"]
    second = await oma(client, "search_domains", range={"first": 1, "limit": 1})
    assert [row["domain"] for row in second["domains"]] == ["demo.test"]
    assert (second["count"], second["total_count"]) == (1, 2)


async def test_search_domains_match_and_user_counts(client: Client) -> None:
    reply = await oma(client, "search_domains", criteria={"match": "*.test"})
    assert reply["domains"] == [{"domain": "demo.test", "type": "domain", "users": 1}]


async def test_domain_admin_may_not_search_domains(client: Client) -> None:
    # search_domains' least role is company_ro (methods.json): a domain admin is refused.
    reply = await oma(client, "search_domains", DOMAIN_ADMIN)
    assert reply["error_number"] == 4


def test_wildcard_treats_other_characters_literally() -> None:
    assert wildcard("a.c")("a.c")
    assert not wildcard("a.c")("abc")
    assert wildcard("A*")("alice")


@given(
    st.lists(st.integers(), max_size=30),
    st.integers(min_value=0, max_value=40),
    st.integers(min_value=1, max_value=40),
)
def test_pages_cover_every_item_once_in_order(items: list[int], first: int, limit: int) -> None:
    pages = []
    start = 0
    while True:
        reply = page({"range": {"first": start, "limit": limit}}, "rows", items)
        assert reply["total_count"] == len(items)
        assert reply["count"] == len(reply["rows"]) <= limit
        if not reply["rows"]:
            break
        pages.extend(reply["rows"])
        start += limit
    assert pages == items
    assert page({"range": {"first": first}}, "rows", items)["rows"] == items[first:]
