"""Per-user state under an identity provider that names its users (as JupyterHub does)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jupyter_server.auth.identity import IdentityProvider, User
from tornado.httpclient import HTTPClientError

USERS = {"alice-token": "alice", "bob-token": "bob"}


class TwoUserIdentityProvider(IdentityProvider):
    """Two named users, told apart by their token, like hub users."""

    def get_user(self, handler: Any) -> User | None:
        # A cookie stands for a browser session: such requests get the origin
        # and XSRF checks, while token requests skip them as in jupyter-server.
        cookie = handler.get_cookie("test-user")
        if cookie in USERS.values():
            return User(username=cookie)
        token = handler.request.headers.get("Authorization", "").removeprefix("token ")
        name = USERS.get(token)
        if name is None:
            return None
        handler._token_authenticated = True
        return User(username=name)


@pytest.fixture
def jp_server_config(jp_server_config):
    jp_server_config["ServerApp"]["identity_provider_class"] = TwoUserIdentityProvider
    return jp_server_config


@pytest.fixture
def as_user(jp_fetch):
    async def call(user: str, method: str, *path: str, body: Any = None):
        data = (
            json.dumps(body)
            if body is not None
            else ("{}" if method == "POST" else None)
        )
        response = await jp_fetch(
            "workbench",
            "api",
            "v1",
            *path,
            method=method,
            body=data,
            raise_error=False,
            headers={"Authorization": f"token {user}-token"},
        )
        return response.code, json.loads(response.body) if response.body else None

    return call


async def test_users_never_see_each_others_logins_or_terminals(
    as_user, jp_ws_fetch, sshd, ssh_user
):
    credentials = {"username": ssh_user.name, "password": ssh_user.password}
    status, body = await as_user(
        "alice", "POST", "instances", "real", "login", body=credentials
    )
    assert body["error"] == "host_key_unknown"
    await as_user(
        "alice",
        "POST",
        "instances",
        "real",
        "hostkey",
        body={"fingerprint": body["details"]["fingerprint"]},
    )
    status, body = await as_user(
        "alice", "POST", "instances", "real", "login", body=credentials
    )
    assert status == 200
    status, terminal = await as_user(
        "alice", "POST", "terminals", body={"instance": "real"}
    )
    assert status == 201

    status, listed = await as_user("bob", "GET", "terminals")
    assert listed == {"terminals": []}
    status, body = await as_user("bob", "GET", "terminals", terminal["id"])
    assert status == 404
    status, body = await as_user("bob", "DELETE", "terminals", terminal["id"])
    assert status == 404
    status, body = await as_user("bob", "POST", "terminals", body={"instance": "real"})
    assert status == 409 and body["error"] == "not_logged_in"
    status, body = await as_user("bob", "GET", "instances")
    assert body["instances"][0]["logged_in"] is False
    status, body = await as_user("bob", "GET", "instances", "real", "hostkey")
    assert body["known"] == [], "host key approvals are per user"

    with pytest.raises(HTTPClientError) as caught:
        await jp_ws_fetch(
            "workbench",
            "api",
            "v1",
            "terminals",
            terminal["id"],
            "channel",
            headers={"Authorization": "token bob-token"},
        )
    assert caught.value.code == 404

    ws = await jp_ws_fetch(
        "workbench",
        "api",
        "v1",
        "terminals",
        terminal["id"],
        "channel",
        headers={"Authorization": "token alice-token"},
    )
    assert json.loads(await ws.read_message())[0] == "setup"
    ws.close()


async def test_browser_session_checks_origin_and_xsrf(
    jp_fetch, jp_ws_fetch, jp_http_port
):
    cookie = {"Cookie": "test-user=alice", "Authorization": ""}

    with pytest.raises(HTTPClientError) as caught:
        await jp_ws_fetch(
            "workbench",
            "api",
            "v1",
            "terminals",
            "abc",
            "channel",
            headers={**cookie, "Origin": "http://evil.example"},
        )
    assert caught.value.code == 403

    with pytest.raises(HTTPClientError) as caught:
        await jp_ws_fetch(
            "workbench",
            "api",
            "v1",
            "terminals",
            "abc",
            "channel",
            headers={**cookie, "Origin": f"http://localhost:{jp_http_port}"},
        )
    assert caught.value.code == 404, (
        "same origin passes the check and finds no terminal"
    )

    response = await jp_fetch(
        "workbench",
        "api",
        "v1",
        "terminals",
        method="POST",
        body="{}",
        headers=cookie,
        raise_error=False,
    )
    assert response.code == 403, (
        "a cookie-authenticated POST without XSRF token is refused"
    )
