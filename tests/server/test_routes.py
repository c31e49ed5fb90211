"""The REST and websocket API on a real jupyter-server, against the real sshd."""

from __future__ import annotations

import asyncio
import json

import pytest
from sshd import LocalUser, SSHServer
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection

from jupyter_workbench.server.app import WorkbenchApp


async def login(api, sshd: SSHServer, user: LocalUser) -> None:
    status, body = await api(
        "POST",
        "instances",
        "real",
        "login",
        body={"username": user.name, "password": user.password},
    )
    assert status == 409 and body["error"] == "host_key_unknown", body
    assert body["details"]["fingerprint"] == sshd.host_key_fingerprint

    status, _ = await api(
        "POST",
        "instances",
        "real",
        "hostkey",
        body={"fingerprint": body["details"]["fingerprint"]},
    )
    assert status == 200
    status, body = await api(
        "POST",
        "instances",
        "real",
        "login",
        body={"username": user.name, "password": user.password},
    )
    assert status == 200 and body["status"] == "connected", body


async def read_until(
    ws: WebSocketClientConnection, needle: str, timeout: float = 10.0
) -> str:
    seen = ""

    async def loop() -> None:
        nonlocal seen
        while needle not in seen:
            message = await ws.read_message()
            assert message is not None, f"socket closed; saw {seen!r}"
            kind, *rest = json.loads(message)
            if kind == "stdout":
                seen += rest[0]

    await asyncio.wait_for(loop(), timeout)
    return seen


async def test_instances_are_listed(api, sshd):
    status, body = await api("GET", "instances")

    assert status == 200
    [real] = body["instances"]
    assert (
        real["name"] == "real"
        and real["port"] == sshd.port
        and real["logged_in"] is False
    )


async def test_login_terminal_and_websocket_round_trip(
    api, jp_ws_fetch, sshd, ssh_user
):
    await login(api, sshd, ssh_user)
    status, terminal = await api(
        "POST", "terminals", body={"instance": "real", "rows": 24, "cols": 80}
    )
    assert status == 201

    ws = await jp_ws_fetch(
        "workbench", "api", "v1", "terminals", terminal["id"], "channel"
    )
    setup = json.loads(await ws.read_message())
    assert setup[0] == "setup" and setup[1]["id"] == terminal["id"]

    # The UTF-8 of "ö✓" split across two stdin messages.
    ws.write_message(json.dumps(["stdin", "echo 'ö"]))
    ws.write_message(json.dumps(["stdin", "✓' $((6*7))\r"]))
    assert "ö✓ 42" in await read_until(ws, "ö✓ 42")

    ws.write_message(json.dumps(["set_size", 33, 111]))
    ws.write_message(json.dumps(["stdin", "stty size\r"]))
    await read_until(ws, "33 111")
    ws.close()

    again = await jp_ws_fetch(
        "workbench", "api", "v1", "terminals", terminal["id"], "channel"
    )
    assert json.loads(await again.read_message())[0] == "setup"
    scrollback = json.loads(await again.read_message())
    assert scrollback[0] == "stdout" and "ö✓ 42" in scrollback[1]

    status, _ = await api("DELETE", "terminals", terminal["id"])
    assert status == 204
    while (message := await again.read_message()) is not None:
        last = json.loads(message)
    again.close()
    assert last == ["disconnect", "Terminal closed by the user"]


async def test_errors_are_json_with_codes(api, sshd, ssh_user):
    status, body = await api(
        "POST", "instances", "nowhere", "login", body={"username": "x", "password": "y"}
    )
    assert status == 404 and body["error"] == "not_found"

    status, body = await api("POST", "terminals", body={"instance": "real"})
    assert status == 409 and body["error"] == "not_logged_in"

    await login(api, sshd, ssh_user)
    status, body = await api(
        "POST",
        "instances",
        "real",
        "login",
        body={"username": ssh_user.name, "password": "wrong"},
    )
    assert status == 401 and body["error"] == "auth_failed"
    assert "wrong" not in json.dumps(body)

    status, body = await api(
        "POST", "terminals", body={"instance": "real", "rows": "x"}
    )
    assert status == 400 and body["error"] == "bad_request"


async def test_diagnose_walks_every_step(api, sshd, ssh_user):
    status, body = await api("GET", "instances", "real", "diagnose")

    assert status == 200
    assert [s["step"] for s in body["steps"]] == [
        "resolve",
        "route",
        "tcp",
        "ssh",
        "auth",
    ]
    assert body["steps"][3]["ok"] and "not yet trusted" in body["steps"][3]["detail"]
    assert body["steps"][4]["ok"] is False and body["ok"] is False


async def test_kernel_key_acts_as_the_owner(jp_fetch, jp_serverapp):
    import os

    # A real server runs this once its loop starts; pytest-jupyter's does not.
    await jp_serverapp._post_start()
    key = os.environ["JUPYTER_WORKBENCH_KEY"]
    assert os.environ["JUPYTER_WORKBENCH_URL"] == (
        f"http://{jp_serverapp.ip}:{jp_serverapp.port}{jp_serverapp.base_url}"
    )

    ok = await jp_fetch(
        "workbench",
        "api",
        "v1",
        "instances",
        headers={"Authorization": f"workbench-key {key}"},
    )
    assert ok.code == 200
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            "workbench",
            "api",
            "v1",
            "instances",
            headers={"Authorization": "workbench-key nope"},
        )
    assert caught.value.code == 403


def _routes() -> list[tuple[str, list[str]]]:
    app = WorkbenchApp()
    app.initialize_handlers()
    routes = []
    for pattern, handler in app.handlers:
        path = (
            pattern.replace("(?P<name>[^/]+)", "real")
            .replace("(?P<challenge>[0-9a-f]+)", "abc")
            .replace("(?P<terminal_id>[0-9a-f]+)", "abc")
            .replace("(?P<run_id>[0-9a-f]+)", "abc")
            .replace("(?P<other_id>[0-9a-f]+)", "abd")
            .replace("(?P<op>mkdir|rename|delete|chmod|copy)", "mkdir")
            .replace("(?P<session_id>[0-9a-f]+)", "abc")
            .replace("(?P<path>[A-Za-z0-9_.-]+)", "rdp.html")
            .replace("(?P<user>[^/]+)", "wbt-nobody")
            .replace("(?P<action>[a-z-]+)", "lock")
            .replace("(?P<service>[^/]+)", "ssh")
            .replace("(?P<action>[a-z]+)", "stop")
        )
        methods = [
            m
            for m in ("GET", "POST", "PUT", "DELETE")
            if m.lower() in handler.__dict__
            or (
                m == "GET"
                and "get" in {k for c in handler.__mro__[:1] for k in c.__dict__}
            )
        ]
        routes.append((path, methods))
    return routes


@pytest.mark.parametrize("allow_unauthenticated", [False, True])
async def test_every_route_refuses_requests_without_credentials(
    jp_fetch, jp_serverapp, allow_unauthenticated
):
    jp_serverapp.web_app.settings["allow_unauthenticated_access"] = (
        allow_unauthenticated
    )
    routes = _routes()
    assert len(routes) == 37

    for path, methods in routes:
        assert methods, path
        for method in methods:
            body = "{}" if method in ("POST", "PUT") else None
            response = await jp_fetch(
                path,
                method=method,
                body=body,
                raise_error=False,
                headers={"Authorization": ""},
            )
            assert response.code in (401, 403), (method, path, response.code)
