"""Callers' own session tokens (OMA token mode through the gateway), as ocolin/OpenSrsMail and
the toolkit's token mode use them: `authenticate` with `generate_session_token`, a cached token,
then calls with `credentials: {user, token}`. Against the real sandbox and, for the fleet, a real
redis-server shared by two gateway "replicas"."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import time
from dataclasses import replace
from typing import Any

from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis
from structlog.testing import capture_logs

from gateway.app import GATEWAY, create_app
from gateway.sandbox import Sandbox
from gateway.secrets import digest
from gateway.settings import CallerKey, RateSpec, SessionTokenSettings, Settings

from ..policy.conftest import Recorder
from ..store.conftest import redis_settings
from ..support import KEYS, Client, caller, make_settings

ALICE = {"user": "alice@demo.example"}


def password_creds(name: str = "billing") -> dict[str, str]:
    return {"user": name, "password": KEYS[name], "client": "ocolin/opensrs-mail"}


async def authenticate(gw: Client, **extra: Any) -> dict[str, Any]:
    body = {"credentials": password_creds(), "generate_session_token": True, **extra}
    response = await gw.post("/api/authenticate", json=body)
    assert response.status == 200
    answer: dict[str, Any] = await response.json()
    return answer


async def with_token(
    gw: Client, token: str, method: str = "get_user", **body: Any
) -> dict[str, Any]:
    sent = {**ALICE, **body, "credentials": {"user": "billing", "token": token}}
    response = await gw.post(f"/api/{method}", json=sent)
    answer: dict[str, Any] = await response.json()
    return answer


async def test_a_token_mode_client_authenticates_then_calls_with_its_token(
    gw: Client, oma: Sandbox
) -> None:
    logins = oma.authenticate_count
    answer = await authenticate(gw, session_token_duration=600)
    assert answer["success"] is True and answer["session_token_duration"] == 600
    token = answer["session_token"]
    assert len(token) >= 32 and token != KEYS["billing"]
    assert (await with_token(gw, token))["success"] is True
    # Checking the token the way the toolkit's Authenticate demo does.
    check = await gw.post(
        "/api/authenticate", json={"credentials": {"user": "billing", "token": token}}
    )
    assert await check.json() == {"success": True}
    # Never forwarded: OMA saw no extra login, and never the caller's token.
    assert oma.authenticate_count <= logins + 1  # at most the gateway's own warm-up login
    assert all(r.token != token for r in oma.requests)


async def test_authenticate_without_generate_session_token_just_says_yes(gw: Client) -> None:
    response = await gw.post("/api/authenticate", json={"credentials": password_creds()})
    assert response.status == 200 and await response.json() == {"success": True}


async def test_the_lifetime_is_capped_and_defaults_to_omas(
    aiohttp_client: AiohttpClient, oma_url: str
) -> None:
    rules = SessionTokenSettings(max_lifetime=3600.0)
    gw = await aiohttp_client(
        create_app(make_settings(oma_url, {"billing": caller("billing", session_tokens=rules)}))
    )
    assert (await authenticate(gw, session_token_duration=86400))["session_token_duration"] == 3600
    assert (await authenticate(gw))["session_token_duration"] == 3600  # OMA's 10800, capped
    assert (await authenticate(gw, session_token_duration=0))["session_token_duration"] == 1


async def test_an_expired_or_unknown_token_is_unauthenticated(gw: Client) -> None:
    token = (await authenticate(gw, session_token_duration=1))["session_token"]
    assert (await with_token(gw, token))["success"] is True
    await asyncio.sleep(1.2)
    expired = await with_token(gw, token)
    assert expired["gateway_error"] == "unauthenticated" and expired["error_number"] == 1
    assert (await with_token(gw, "omagw_st_not-a-real-token"))["gateway_error"] == "unauthenticated"


async def test_a_token_is_bound_to_its_caller(gw: Client) -> None:
    token = (await authenticate(gw))["session_token"]
    sent = {**ALICE, "credentials": {"user": "support", "token": token}}
    response = await gw.post("/api/get_user", json=sent)
    assert (await response.json())["gateway_error"] == "unauthenticated"


async def test_a_token_dies_with_its_key_on_reload(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    app = create_app(settings)
    gw = await aiohttp_client(app)
    token = (await authenticate(gw))["session_token"]
    assert (await with_token(gw, token))["success"] is True
    callers = dict(settings.callers)
    callers["billing"] = replace(callers["billing"], keys=())  # the key is removed
    app[GATEWAY].reload(replace(settings, callers=callers))
    assert (await with_token(gw, token))["gateway_error"] == "unauthenticated"


async def test_session_tokens_can_be_turned_off(
    aiohttp_client: AiohttpClient, oma_url: str
) -> None:
    gw = await aiohttp_client(
        create_app(make_settings(oma_url, {"billing": caller("billing", session_tokens=None)}))
    )
    body = {"credentials": password_creds(), "generate_session_token": True}
    answer = await (await gw.post("/api/authenticate", json=body)).json()
    assert answer["gateway_error"] == "method_not_allowed"


async def test_authenticate_counts_against_the_callers_rate_limit(
    aiohttp_client: AiohttpClient, oma_url: str
) -> None:
    limited = caller("billing", rate_limit=RateSpec(rate=0.01, burst=1))
    gw = await aiohttp_client(create_app(make_settings(oma_url, {"billing": limited})))
    await authenticate(gw)
    body = {"credentials": password_creds(), "generate_session_token": True}
    response = await gw.post("/api/authenticate", json=body)
    assert (await response.json())["gateway_error"] == "rate_limited"
    assert "Retry-After" in response.headers


async def test_the_toolkits_top_level_copy_of_the_token_is_not_forwarded(
    aiohttp_client: AiohttpClient, recorder: tuple[Recorder, str]
) -> None:
    minter = caller("billing", allow=("generate_token",))
    gw = await aiohttp_client(create_app(make_settings(recorder[1], {"billing": minter})))
    token = (await authenticate(gw))["session_token"]
    # The PHP toolkit copies the token to a top-level `token` beside credentials.token: on
    # generate_token that would otherwise read as a caller-chosen token.
    sent = {"user": "alice@demo.example", "type": "sso", "reason": "r", "token": token,
            "credentials": {"user": "billing", "token": token}}  # fmt: skip
    answer = await (await gw.post("/api/generate_token", json=sent)).json()
    assert answer == {"success": True}
    ((method, forwarded),) = recorder[0].forwarded()
    assert method == "generate_token" and "token" not in forwarded
    assert token not in str(forwarded)


async def test_the_token_is_audited_by_id_never_in_clear(gw: Client) -> None:
    token = (await authenticate(gw))["session_token"]
    with capture_logs() as logs:
        await with_token(gw, token)
    (record,) = [e for e in logs if e["event"] == "audit"]
    assert (
        record["via"] == "session_token"
        and record["token_id"]
        and record["token_id"] not in token[:20]
    )
    assert token not in repr(logs)


async def test_a_token_works_on_every_replica_and_survives_a_restart(
    aiohttp_client: AiohttpClient, oma_url: str, redis_url: str
) -> None:
    store = redis_settings(redis_url)
    settings = make_settings(oma_url, store=store)
    first = await aiohttp_client(create_app(settings))
    token = (await authenticate(first))["session_token"]
    second = await aiohttp_client(create_app(settings))  # another replica on the same Redis
    assert (await with_token(second, token))["success"] is True
    await first.close()  # "restart": a new process would start with nothing in memory
    restarted = await aiohttp_client(create_app(settings))
    assert (await with_token(restarted, token))["success"] is True


async def test_perls_plain_1_for_true_also_asks_for_a_token(gw: Client) -> None:
    body = {"credentials": password_creds(), "generate_session_token": 1}
    answer = await (await gw.post("/api/authenticate", json=body)).json()
    assert answer["session_token"].startswith("omagw_st_")
    body["generate_session_token"] = 2  # anything else is not OMA's true
    assert await (await gw.post("/api/authenticate", json=body)).json() == {"success": True}


async def test_authenticate_is_audited_once_with_the_new_tokens_id_never_the_token(
    gw: Client,
) -> None:
    with capture_logs() as logs:
        token = (await authenticate(gw))["session_token"]
        assert (await with_token(gw, token))["success"] is True
    minted, used = [e for e in logs if e["event"] == "audit"]
    assert minted["method"] == "authenticate" and minted["caller"] == "billing"
    assert minted["status"] == 200 and minted["via"] == "body_key"
    assert minted["token_id"] == hashlib.sha256(token.encode()).hexdigest()[:12]
    assert used["method"] == "get_user" and used["token_id"] == minted["token_id"]  # linked
    assert token not in repr(logs)


async def redis_contents(client: Redis) -> list[bytes]:
    """Every key of the database and every value under it (the store writes strings and hashes;
    any other type fails the test until it is read here too)."""
    found: list[bytes | str] = []
    async for key in client.scan_iter():
        found.append(key)
        kind = await client.type(key)
        if kind == b"string":
            found.append(await client.get(key) or b"")
        elif kind == b"hash":
            found += [b for kv in (await client.hgetall(key)).items() for b in kv]
        else:
            raise AssertionError(f"a {kind!r} in Redis: read it here too")
    return [v if isinstance(v, bytes) else v.encode() for v in found]


async def test_redis_holds_only_the_tokens_digest(
    aiohttp_client: AiohttpClient, oma_url: str, redis_url: str, raw_redis: Redis
) -> None:
    gw = await aiohttp_client(create_app(make_settings(oma_url, store=redis_settings(redis_url))))
    token = (await authenticate(gw, session_token_duration=600))["session_token"]
    assert (await with_token(gw, token))["success"] is True  # limits and custody wrote too
    contents = await redis_contents(raw_redis)
    secret = token.removeprefix("omagw_st_").encode()
    assert len(contents) > 2 and not any(secret in value for value in contents)
    where = f"oma-gw:ctoken:{hashlib.sha256(token.encode()).hexdigest()}"
    assert where.encode() in contents
    assert 0 < await raw_redis.ttl(where) <= 600  # Redis drops it when the token expires


async def test_a_token_dies_when_its_key_expires(
    aiohttp_client: AiohttpClient, oma_url: str
) -> None:
    ends = time.time() + 1.5
    key = CallerKey(digest(KEYS["billing"]), datetime.datetime.fromtimestamp(ends, datetime.UTC))
    billing = caller("billing", keys=(key,))
    gw = await aiohttp_client(create_app(make_settings(oma_url, {"billing": billing})))
    answer = await authenticate(gw, session_token_duration=600)
    assert answer["session_token_duration"] == 600  # the token itself would last 10 minutes
    assert (await with_token(gw, answer["session_token"]))["success"] is True
    await asyncio.sleep(ends - time.time() + 0.2)
    expired = await with_token(gw, answer["session_token"])
    assert expired["gateway_error"] == "unauthenticated" and expired["error_number"] == 1
