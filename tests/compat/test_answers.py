"""How the libraries read answers, and the URLs they build from their documented base URLs,
through real gateway processes: every refusal reaches a Perl-style client (JSON parsed only from
a 2xx) as HTTP 200 with error_number and error; each base-URL form works; the Ruby gem's
TLS-only, unverified client connects and sees InvalidCredentials; curl with a header key keeps
the HTTP statuses; each library's own client label reaches the audit."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from ..support import KEYS
from .conftest import Replica, run_client

ALICE = {"user": "alice@demo.example"}
PERL_CLIENT = "Perl OMA Client\\0.02"


def perl(
    base: str, user: str, secret: str, method: str = "get_user", args: dict[str, Any] = ALICE
) -> dict[str, Any]:
    argv = (base, user, "password", secret, method, json.dumps(args))
    return run_client("perl", "net_opensrs_oma.pl", *argv)


@pytest.mark.parametrize("suffix", ["/api/", "/api"])  # -> /api//get_user, /api/get_user
def test_perl_password_mode_from_its_documented_base_url(
    replicas: list[Replica], suffix: str
) -> None:
    answer = perl(replicas[0].url + suffix, "billing", KEYS["billing"])
    assert answer["status"] == 200 and answer["is_success"] is True
    record = replicas[0].record(answer["request_id"])
    assert record["method"] == "get_user"
    assert record["caller"] == "billing" and record["client"] == PERL_CLIENT


@pytest.mark.parametrize(
    ("base", "user", "secret", "method", "code", "number", "error"),
    [("/api/", "billing", "not-the-key", "get_user", "unauthenticated", 1,
      "Invalid credentials supplied in request"),
     ("/api/", "billing", KEYS["readonly"], "get_user", "unauthenticated", 1,
      "Invalid credentials supplied in request"),
     ("/api/", "readonly", KEYS["readonly"], "delete_user", "method_not_allowed", 4,
      "method not allowed for this caller"),
     ("/v1/", "billing", KEYS["billing"], "get_user", "not_found", 5,
      "no such endpoint: callers POST /api/{method}")],
)  # fmt: skip
def test_perl_sees_every_refusal_with_its_number_and_text(
    replicas: list[Replica],
    base: str,
    user: str,
    secret: str,
    method: str,
    code: str,
    number: int,
    error: str,
) -> None:
    answer = perl(replicas[0].url + base, user, secret, method)
    assert answer["status"] == 200  # refusal_status auto: OMA-style credentials, OMA's way
    assert answer["is_success"] is False and answer["request_id"]
    assert (answer["error_number"], answer["error"]) == (number, error)
    assert answer["content"]["gateway_error"] == code


def test_perl_sees_the_refusal_of_a_body_nested_too_deep(replicas: list[Replica]) -> None:
    ids: Any = ["d1"]
    for _ in range(70):  # the gateway refuses bodies nested deeper than 64 levels
        ids = [ids]
    answer = perl(f"{replicas[0].url}/api/", "billing", KEYS["billing"], "get_user",
                  {**ALICE, "ids": ids})  # fmt: skip
    assert answer["status"] == 200  # its body credentials were noted before the depth refusal
    assert (answer["error_number"], answer["error"]) == (
        5,
        "request body nested deeper than 64 levels",
    )
    assert answer["content"]["gateway_error"] == "bad_request" and answer["request_id"]
    record = replicas[0].record(answer["request_id"])
    assert record["status"] == 200 and record["gateway_error"] == "bad_request"


def test_perl_sees_rate_limiting_with_retry_after(replicas: list[Replica]) -> None:
    first, second = replicas
    assert perl(f"{first.url}/api/", "support", KEYS["support"])["is_success"] is True
    refused = perl(f"{second.url}/api/", "support", KEYS["support"])  # one budget in Redis
    assert refused["status"] == 200 and refused["error_number"] is not None
    assert refused["content"]["gateway_error"] == "rate_limited"
    assert refused["error"] and int(refused["retry_after"]) > 0


@pytest.mark.parametrize("host_suffix", ["", "/api"])  # the config template, the README
def test_the_toolkits_mail_host_forms(replicas: list[Replica], host_suffix: str) -> None:
    args = (replicas[0].url + host_suffix, "billing", KEYS["billing"], "get_user",
            json.dumps(ALICE))  # fmt: skip
    answer = run_client("php", "osrs_toolkit.php", *args)  # -> /api/get_user, /api/api/get_user
    assert answer["status"] == 200 and answer["body"]["success"] is True


def curl(url: str, *args: str) -> tuple[int, dict[str, Any]]:
    binary = shutil.which("curl")
    assert binary, "curl is required"
    done = subprocess.run(  # noqa: S603 (a fixed binary and our own arguments)
        [binary, "-sS", "-k", "-w", "\n%{http_code}", *args, url],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    body, status = done.stdout.rsplit("\n", 1)
    return int(status), json.loads(body)


def test_curl_with_a_header_key_keeps_the_http_statuses(replicas: list[Replica]) -> None:
    key = [
        "-H",
        f"Authorization: Bearer {KEYS['readonly']}",
        "-H",
        "Content-Type: application/json",
    ]
    url = f"{replicas[0].url}/get_user"  # ocolin's base without its trailing slash: /{method}
    assert curl(url, *key, "-d", json.dumps(ALICE))[0] == 200
    status, answer = curl(f"{replicas[0].url}/api/delete_user", *key, "-d", json.dumps(ALICE))
    assert status == 403 and answer["error_number"] == 4  # no body credentials: HTTP's way


def ruby(gateway: Replica, username: str, password: str, method: str) -> dict[str, Any]:
    base = f"https://127.0.0.1:{gateway.ports.listen}/api"  # the gem's default form
    return run_client("ruby", "opensrs_oma_gem.rb", base, username, password, method,
                      json.dumps(ALICE))  # fmt: skip


def test_the_ruby_gem_connects_over_tls_without_verifying(tls_gateway: Replica) -> None:
    before = len(tls_gateway.records("get_user", 0))
    answer = ruby(tls_gateway, "billing", KEYS["billing"], "get_user")
    assert answer["answer"]["success"] is True
    record = tls_gateway.records("get_user", before + 1)[-1]
    assert record["caller"] == "billing" and record["client"] == "Ruby OpenSRS::OMA 0.01"


def test_the_ruby_gem_raises_invalid_credentials_on_a_bad_key(tls_gateway: Replica) -> None:
    answer = ruby(tls_gateway, "billing", "not-the-key", "get_user")
    assert answer == {"raised": "InvalidCredentials",
                      "message": "Invalid credentials supplied in request"}  # fmt: skip
    refused = ruby(tls_gateway, "readonly", KEYS["readonly"], "delete_user")
    assert refused == {"raised": "Exception", "message": "method not allowed for this caller"}


def test_the_tls_port_serves_https_only(tls_gateway: Replica) -> None:
    plain = subprocess.run(  # noqa: S603 (a fixed binary and our own arguments)
        [shutil.which("curl") or "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
         "-d", "{}", f"http://127.0.0.1:{tls_gateway.ports.listen}/api/get_user"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert plain.stdout in ("000", "400")  # no handshake, or a TLS server refusing plain text
