"""Login limits behind a reverse proxy, over real HTTP against ``eldercare serve``
(Issue 13 item 4): X-Forwarded-For is believed only from ELDERCARE_TRUSTED_PROXIES
and only its rightmost untrusted address, so a client cannot escape the
throttle by writing a new address into the header for each try; the limit per
address holds across usernames; other clients behind the same proxy log in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dashboard_api.client_address import resolve
from eldercare.settings import Settings, SettingsError, parse_networks
from tests.api.serve_process import ServeProcess, serve

PROXY, OUTSIDER = "127.0.0.2", "127.0.0.3"  # loopback addresses: all reach the service


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with serve(tmp_path_factory.mktemp("proxied"), {"ELDERCARE_TRUSTED_PROXIES": PROXY}) as s:
        yield s


def login(
    service: ServeProcess,
    username: str,
    password: str,
    *,
    source: str = "127.0.0.1",
    forwarded: str | None = None,
) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source)
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    with httpx.Client(transport=transport, timeout=10) as client:
        return client.post(
            f"{service.api}/api/v1/auth/token",
            data={"username": username, "password": password},
            headers=headers,
        )


def test_without_trusted_proxies_a_made_up_forwarded_for_does_not_escape_the_throttle(
    tmp_path: Path,
) -> None:
    with serve(tmp_path) as service:
        for n in range(5):  # each try claims another address, from 127.0.0.1
            wrong = login(service, "admin", "wrong-password", forwarded=f"198.51.100.{n}")
            assert wrong.status_code == 401
        refused = login(service, "admin", service.admin_password, forwarded="198.51.100.99")
        assert refused.status_code == 429, refused.text
        assert "for admin from 127.0.0.1" in refused.json()["detail"]


def test_behind_the_proxy_each_client_is_throttled_by_its_own_address(
    behind_proxy: ServeProcess,
) -> None:
    service = behind_proxy
    for n in range(5):  # the client writes a new address on the left each time
        forwarded = f"198.51.100.{n}, 203.0.113.7"
        assert (
            login(service, "admin", "wrong", source=PROXY, forwarded=forwarded).status_code == 401
        )
    refused = login(service, "admin", service.admin_password, source=PROXY, forwarded="203.0.113.7")
    assert refused.status_code == 429
    assert "for admin from 203.0.113.7" in refused.json()["detail"]
    again = login(
        service, "admin", service.admin_password, source=PROXY, forwarded="10.9.9.9, 203.0.113.7"
    )
    assert again.status_code == 429  # a made-up hop on the left changes nothing
    other = login(service, "admin", service.admin_password, source=PROXY, forwarded="203.0.113.8")
    assert other.status_code == 200, other.text  # another client behind the same proxy


def test_a_chain_of_trusted_proxies_is_walked_from_the_right(behind_proxy: ServeProcess) -> None:
    service = behind_proxy
    for _ in range(5):
        forwarded = f"203.0.113.20, {PROXY}"  # the client, then a second hop we trust
        assert (
            login(service, "admin", "wrong", source=PROXY, forwarded=forwarded).status_code == 401
        )
    refused = login(service, "admin", "wrong", source=PROXY, forwarded="203.0.113.20")
    assert "for admin from 203.0.113.20" in refused.json()["detail"]


def test_a_peer_that_is_no_trusted_proxy_is_not_believed(behind_proxy: ServeProcess) -> None:
    service = behind_proxy
    for n in range(5):
        forwarded = f"203.0.113.{100 + n}"
        wrong = login(service, "admin", "wrong", source=OUTSIDER, forwarded=forwarded)
        assert wrong.status_code == 401
    refused = login(service, "admin", service.admin_password, source=OUTSIDER, forwarded="1.1.1.1")
    assert refused.status_code == 429
    assert f"for admin from {OUTSIDER}" in refused.json()["detail"]


def test_the_limit_per_address_holds_across_usernames_behind_the_proxy(
    behind_proxy: ServeProcess,
) -> None:
    service = behind_proxy
    guesser = "203.0.113.50"
    for n in range(21):  # 20 free failures from one address, whatever the usernames
        wrong = login(service, f"user{n}", "wrong", source=PROXY, forwarded=guesser)
        assert wrong.status_code == 401, (n, wrong.text)
    refused = login(service, "nurse", "anything-at-all", source=PROXY, forwarded=guesser)
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith(f"too many failed logins from {guesser}")
    assert int(refused.headers["Retry-After"]) == 15
    right = login(service, "admin", service.admin_password, source=PROXY, forwarded="203.0.113.51")
    assert right.status_code == 200  # the next address behind the proxy is not affected


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("10.0.0.5", ["203.0.113.1"], "203.0.113.1"),
        ("10.0.0.5", ["6.6.6.6, 203.0.113.1"], "203.0.113.1"),
        ("10.0.0.5", ["6.6.6.6", "203.0.113.1, 10.0.0.9"], "203.0.113.1"),  # two headers
        ("10.0.0.5", ["10.0.0.7, 10.0.0.9"], "10.0.0.7"),  # all hops trusted: the farthest
        ("10.0.0.5", ["203.0.113.1:4711"], "203.0.113.1"),
        ("10.0.0.5", ["[2001:db8::1]:4711"], "2001:db8::1"),
        ("10.0.0.5", ["6.6.6.6, not-an-address"], "10.0.0.5"),  # garbage: the proxy's own
        ("10.0.0.5", [], "10.0.0.5"),
        ("192.0.2.1", ["203.0.113.1"], "192.0.2.1"),  # not a trusted peer
    ],
)
def test_the_client_is_the_rightmost_untrusted_address(
    peer: str, header: list[str], client: str
) -> None:
    assert resolve(peer, header, parse_networks("10.0.0.0/24, ::1")) == client


def test_a_bad_trusted_proxies_setting_stops_the_start() -> None:
    with pytest.raises(SettingsError, match="ELDERCARE_TRUSTED_PROXIES: not an address or CIDR"):
        Settings.load({"ELDERCARE_TRUSTED_PROXIES": "10.0.0.0/8, nginx"})
