"""Login throttling against an attacker rotating addresses: guesses per account stay within 100 a
day, and the owner still signs in from a known device or a known address."""

from __future__ import annotations

import sys
import types

import pytest

from services.auth.service import LoginThrottle
from tests.integration.auth.conftest import PASSWORD, register

LOGIN = "/api/v1/auth/login"


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, moved on by hand: `clock.now += seconds`."""
    fake = types.SimpleNamespace(now=1_800_000_000.0)
    fake.time = lambda: fake.now
    monkeypatch.setattr(sys.modules[LoginThrottle.__module__], "time", fake)
    return fake


def attempt(client, password, ip, login="alice", device_token=None):
    body = {"username": login, "password": password}
    if device_token:
        body["device_token"] = device_token
    return client.post(LOGIN, json=body, headers={"X-Real-IP": ip})


def attacker_ip(n: int) -> str:
    return f"198.18.{n // 250}.{n % 250 + 1}"


def spend_budget(client, clock, guesses=150, step=400.0, logins=("alice", "alice@example.com")):
    """An attacker's guesses spread over the day (one every `step` seconds), each from a fresh
    address, alternating username and email; returns how many were checked (401)."""
    checked = 0
    for n in range(guesses):
        clock.now += step
        response = attempt(client, "not the password", attacker_ip(n), login=logins[n % len(logins)])
        assert response.status_code in (401, 429), response.json
        checked += response.status_code == 401
    return checked


def test_an_attacker_rotating_addresses_gets_at_most_100_guesses_a_day(client, clock):
    register(client)
    # 150 guesses over 16.7 hours from 150 addresses: without a daily budget every one is checked.
    checked = spend_budget(client, clock)
    assert checked <= 100
    refused = attempt(client, "not the password", "198.19.0.1")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


def test_the_owner_signs_in_from_a_known_device_while_the_budget_is_spent(client, clock):
    register(client)
    first = attempt(client, PASSWORD, "192.0.2.10")
    assert first.status_code == 200
    device_token = first.json["device_token"]
    spend_budget(client, clock)
    # A new network, but a device that signed in before: not locked out.
    on_the_road = attempt(client, PASSWORD, "203.0.113.77", device_token=device_token)
    assert on_the_road.status_code == 200, on_the_road.json
    assert on_the_road.json["access_token"] and on_the_road.json["device_token"]


def test_the_owner_signs_in_from_a_known_address_while_the_budget_is_spent(client, clock):
    register(client)
    assert attempt(client, PASSWORD, "192.0.2.10").status_code == 200
    spend_budget(client, clock)
    # No device token (another browser), but the address the account signed in from before.
    assert attempt(client, PASSWORD, "192.0.2.10").status_code == 200
    # A stranger (new device, new address) waits for the day's budget to come back.
    stranger = attempt(client, PASSWORD, "203.0.113.78")
    assert stranger.status_code == 429 and int(stranger.headers["Retry-After"]) >= 1


def test_the_old_lockout_scenario_no_longer_refuses_a_known_device(client, clock):
    """An attacker on a few addresses guesses every few seconds; the owner signs in every 15 s."""
    register(client)
    device_token = attempt(client, PASSWORD, "192.0.2.10").json["device_token"]
    refused = 0
    for minute in range(36):
        for n in range(4):
            clock.now += 3
            attempt(client, "not the password", attacker_ip(n))
        clock.now += 3
        response = attempt(client, PASSWORD, f"192.0.2.{minute % 5 + 20}", device_token=device_token)
        refused += response.status_code != 200
        device_token = response.json.get("device_token", device_token)
    assert refused == 0


def test_another_accounts_or_a_forged_device_token_is_not_honoured(client, clock):
    register(client)
    register(client, "mallory")
    mallory_token = attempt(client, PASSWORD, "192.0.2.66", login="mallory").json["device_token"]
    user_id, device, issued, _mac = mallory_token.split(".")
    alice_id = client.post(LOGIN, json={"username": "alice", "password": PASSWORD}).json["user"]["id"]
    spend_budget(client, clock)
    forged = f"{alice_id}.{device}.{issued}.{_mac}"
    for token in (mallory_token, forged, "x.y.z", "a" * 256):
        response = attempt(client, PASSWORD, "203.0.113.79", device_token=token)
        assert response.status_code == 429, token


def test_a_device_token_that_keeps_failing_is_treated_as_a_stranger(client, clock):
    register(client)
    device_token = attempt(client, PASSWORD, "192.0.2.10").json["device_token"]
    spend_budget(client, clock)
    for _ in range(LoginThrottle.KNOWN_FREE):
        clock.now += 1
        assert attempt(client, "guess", "203.0.113.80", device_token=device_token).status_code == 401
    assert attempt(client, PASSWORD, "203.0.113.80", device_token=device_token).status_code == 429


def test_known_devices_and_strangers_together_stay_within_100_a_day(client, clock):
    register(client)
    tokens = [attempt(client, PASSWORD, f"192.0.2.{n}").json["device_token"] for n in range(1, 40)]
    checked = spend_budget(client, clock)
    for n, token in enumerate(tokens):
        for _ in range(LoginThrottle.KNOWN_FREE):
            clock.now += 1
            checked += attempt(client, "guess", attacker_ip(1000 + n), device_token=token).status_code == 401
    assert checked <= 100


def test_device_token_bad_input_gets_422(client):
    register(client)
    for token in ("", "a" * 257, 5):
        body = {"username": "alice", "password": PASSWORD, "device_token": token}
        assert client.post(LOGIN, json=body).status_code == 422
