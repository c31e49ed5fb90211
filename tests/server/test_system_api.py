"""The system management REST API on a real jupyter-server, against the real sshd."""

from __future__ import annotations

import os
import pwd
import secrets

import pytest
from sshd import USER_COMMENT, LocalUser, SSHServer

SYSTEM = ("instances", "real", "system")


async def login(api, sshd: SSHServer, user: LocalUser) -> None:
    body = {"username": user.name, "password": user.password}
    status, answer = await api("POST", "instances", "real", "login", body=body)
    if status == 409 and answer["error"] == "host_key_unknown":
        fingerprint = answer["details"]["fingerprint"]
        assert fingerprint == sshd.host_key_fingerprint
        await api(
            "POST", "instances", "real", "hostkey", body={"fingerprint": fingerprint}
        )
        status, answer = await api("POST", "instances", "real", "login", body=body)
    assert status == 200, answer


async def test_facts_users_and_a_user_lifecycle(api, sshd, sudo_user, new_user_name):
    await login(api, sshd, sudo_user)

    status, facts = await api("GET", *SYSTEM)
    assert status == 200 and facts["family"] == "debian"
    assert facts["privilege"] == "sudo-password" and facts["init"] == "sysv"

    status, body = await api(
        "POST",
        *SYSTEM,
        "users",
        body={
            "name": new_user_name,
            "shell": "/bin/sh",
            "comment": f"{USER_COMMENT}{os.getpid()}",
        },
    )
    assert status == 201, body
    assert body["name"] == new_user_name and body["locked"] is False

    status, body = await api("POST", *SYSTEM, "users", new_user_name, "lock")
    assert status == 200 and body["locked"] is True
    status, body = await api("GET", *SYSTEM, "users")
    listed = {u["name"]: u for u in body["users"]}
    assert listed[new_user_name]["locked"] is True
    assert listed[sudo_user.name]["sudo"] is True

    status, _ = await api(
        "POST",
        *SYSTEM,
        "users",
        new_user_name,
        "password",
        body={"password": "S3cret-pw!"},
    )
    assert status == 204
    status, body = await api("POST", *SYSTEM, "users", new_user_name, "grant-sudo")
    assert status == 200 and "sudo" in body["groups"]

    status, _ = await api(
        "DELETE", *SYSTEM, "users", new_user_name, params={"remove_home": "1"}
    )
    assert status == 204
    with pytest.raises(KeyError):
        pwd.getpwnam(new_user_name)


async def test_bad_input_and_unknown_actions_are_refused(api, sshd, sudo_user):
    await login(api, sshd, sudo_user)

    status, body = await api("POST", *SYSTEM, "users", body={"name": "-rf"})
    assert status == 400 and body["error"] == "system_input"
    status, body = await api("POST", *SYSTEM, "users", "root", "explode")
    assert status == 404
    status, body = await api("GET", *SYSTEM, "logons", params={"since": "yesterday"})
    assert status == 400 and "ISO 8601" in body["message"]
    status, body = await api("POST", *SYSTEM, "services", "ssh", "explode")
    assert status == 404
    status, body = await api("POST", *SYSTEM, "services", "no-such-service", "start")
    assert status == 400 and body["error"] == "system_input"


async def test_wrong_sudo_password_is_refused_and_never_echoed(api, sshd, sudo_user):
    await login(api, sshd, sudo_user)
    wrong = "not-the-password-" + secrets.token_hex(4)

    status, _ = await api("PUT", *SYSTEM, "sudo", body={"password": wrong})
    assert status == 204
    status, body = await api("POST", *SYSTEM, "users", sudo_user.name, "lock")
    assert status == 403 and body["error"] == "sudo_denied"
    assert wrong not in str(body)

    status, _ = await api("DELETE", *SYSTEM, "sudo")
    assert status == 204
    status, body = await api("GET", *SYSTEM, "users")
    mine = next(u for u in body["users"] if u["name"] == sudo_user.name)
    assert mine["locked"] is False  # the login password works for sudo again


async def test_logons_and_services(api, sshd, sudo_user):
    await login(api, sshd, sudo_user)

    status, body = await api(
        "GET",
        *SYSTEM,
        "logons",
        params={"user": sudo_user.name, "source": "127.0.0.1"},
    )
    assert status == 200
    assert all(r["user"] == sudo_user.name for r in body["records"])
    assert body["sessions"] is not None

    status, body = await api("GET", *SYSTEM, "services")
    assert status == 200
    names = {s["name"] for s in body["services"]}
    assert "ssh" in names
    status, body = await api("GET", *SYSTEM, "services", "ssh", params={"lines": "5"})
    assert status == 200 and body["service"]["name"] == "ssh"
    assert isinstance(body["log"], list)


async def test_system_needs_a_login_first(api):
    status, body = await api("GET", *SYSTEM, "users")
    assert status == 409 and body["error"] == "not_logged_in"
