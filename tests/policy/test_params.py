"""Parameter rules through the gateway: attribute allowlists and create-only for the upserts."""

from __future__ import annotations

from pytest_aiohttp import AiohttpClient

from gateway.sandbox import Sandbox
from gateway.settings import CallerParams, ChangeRules

from ..support import caller
from .conftest import Recorder, audited_post, gateway_for

HELPDESK = CallerParams(
    change_user=ChangeRules(attributes=("password", "name", "status")),
    change_domain=ChangeRules(attributes=("timezone", "language"), upsert="create_only"),
)


async def test_only_listed_attributes_may_be_set(
    aiohttp_client: AiohttpClient, recorder: tuple[Recorder, str]
) -> None:
    gw = await gateway_for(
        aiohttp_client, recorder[1], {"support": caller("support", params=HELPDESK)}
    )
    body = {"user": "a@demo.example", "attributes": {"name": "A", "quota": 999999}}
    status, answer, record = await audited_post(gw, "change_user", body, "support")
    assert status == 403 and answer["gateway_error"] == "parameter_not_allowed"
    assert record["refusal"] == {
        "rule": "attribute_not_allowed",
        "field": "attributes.quota",
        "value": "quota",
    }
    assert recorder[0].forwarded() == []
    body = {"user": "a@demo.example", "attributes": {"name": "A", "password": "s3cret-pass"}}
    assert (await audited_post(gw, "change_user", body, "support"))[0] == 200
    assert recorder[0].forwarded()[0][1]["attributes"] == body["attributes"]


async def test_attributes_that_are_not_an_object_are_refused_under_an_allowlist(
    aiohttp_client: AiohttpClient, recorder: tuple[Recorder, str]
) -> None:
    gw = await gateway_for(
        aiohttp_client, recorder[1], {"support": caller("support", params=HELPDESK)}
    )
    body = {"user": "a@demo.example", "attributes": [["quota", 1]]}
    status, _, record = await audited_post(gw, "change_user", body, "support")
    assert status == 403 and record["refusal"]["rule"] == "attributes"


async def test_create_only_is_forced_upstream_whatever_the_caller_sent(
    aiohttp_client: AiohttpClient, recorder: tuple[Recorder, str]
) -> None:
    gw = await gateway_for(
        aiohttp_client, recorder[1], {"support": caller("support", params=HELPDESK)}
    )
    body = {"domain": "new.example", "attributes": {"timezone": "UTC"}, "create_only": False}
    assert (await audited_post(gw, "change_domain", body, "support"))[0] == 200
    assert recorder[0].forwarded()[0][1]["create_only"] is True


async def test_create_only_means_oma_refuses_to_modify_an_existing_domain(
    aiohttp_client: AiohttpClient, oma_url: str, oma: Sandbox
) -> None:
    gw = await gateway_for(aiohttp_client, oma_url, {"support": caller("support", params=HELPDESK)})
    body = {"domain": "demo.example", "attributes": {"timezone": "Europe/Paris"}}
    status, answer, _ = await audited_post(gw, "change_domain", body, "support")
    assert status == 200 and answer["success"] is False and answer["error_number"] == 7
    assert oma.directory.domains["demo.example"].attributes["timezone"] == "UTC"
