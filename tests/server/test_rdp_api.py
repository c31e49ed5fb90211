"""Remote desktop routes on a real jupyter-server, relaying to the STAND-IN guacd.

guacd is not packaged for this Debian: `tests/guacd_standin.py` stands in
for it, written from the published protocol description.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from guacd_standin import NAME, GuacdStandIn
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection

from jupyter_workbench.gateway.guacamole import UTF16_UNITS, InstructionParser

PASSWORD = "Pässwörd ✓ 🔑"


@pytest.fixture
def jp_server_config(guacd: GuacdStandIn, tmp_path: Path) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_workbench": True}},
        "WorkbenchApp": {
            "instances": [
                {"name": "win-1", "host": "127.0.0.1", "protocol": "rdp"},
                {"name": "lin-1", "host": "127.0.0.1", "protocol": "ssh"},
            ],
            "ssh_config": None,
            "data_dir": str(tmp_path / "workbench"),
            "guacd_host": guacd.host,
            "guacd_port": guacd.port,
            "connect_timeout": 3.0,
        },
    }


class Browser:
    """The browser side of the tunnel, counting lengths as guacamole-common-js."""

    def __init__(self, ws: WebSocketClientConnection) -> None:
        self.ws = ws
        self.parser = InstructionParser(UTF16_UNITS)
        self.seen: list[tuple[str, ...]] = []

    async def read_until(self, opcode: str, timeout: float = 10.0) -> tuple[str, ...]:
        async def loop() -> tuple[str, ...]:
            while True:
                for instruction in self.seen:
                    if instruction[0] == opcode:
                        return instruction
                message = await self.ws.read_message()
                assert message is not None, f"tunnel closed; saw {self.seen}"
                # Each message holds whole instructions: the browser parses
                # every message on its own.
                assert isinstance(message, str)
                fresh = InstructionParser(UTF16_UNITS)
                self.seen.extend(fresh.feed(message))
                assert not fresh.pending, message

        return await asyncio.wait_for(loop(), timeout)

    def send(self, *elements: str) -> None:
        from jupyter_workbench.gateway.guacamole import encode

        self.ws.write_message(encode(elements, UTF16_UNITS))


async def create(api, **fields: Any) -> tuple[int, Any]:
    body = {
        "instance": "win-1",
        "username": "Administrator",
        "password": PASSWORD,
        "domain": "CORP",
        **fields,
    }
    return await api("POST", "rdp", body=body)


async def tunnel(jp_ws_fetch, session: str, **params: Any) -> Browser:
    ws = await jp_ws_fetch(
        "workbench",
        "api",
        "v1",
        "rdp",
        session,
        "tunnel",
        params=params,
        subprotocols=["guacamole"],
    )
    assert ws.selected_subprotocol == "guacamole"
    return Browser(ws)


async def test_desktop_round_trip_through_the_tunnel(
    api, jp_ws_fetch, jp_base_url, guacd, caplog
):
    caplog.set_level(logging.DEBUG)
    # The extension's loggers hang below the server's, which does not propagate.
    server_log = logging.getLogger("jupyter_workbench").parent
    assert server_log is not None
    server_log.addHandler(caplog.handler)
    status, created = await create(api, width=1000, height=700)
    assert status == 201, created
    assert PASSWORD not in str(created)
    assert created["mode"] == "guacd"
    assert (
        created["page"]
        == f"{jp_base_url}workbench/static/rdp.html?session={created['id']}"
    )

    browser = await tunnel(jp_ws_fetch, created["id"], width=900, height=640, dpi=96)
    first = await browser.read_until("")
    assert browser.seen[0] == first and len(first) == 2 and len(first[1]) == 36

    # The name holds an emoji: it arrives with UTF-16 lengths, whole.
    assert await browser.read_until("name") == ("name", NAME)
    assert await browser.read_until("size") == ("size", "0", "900", "640")
    assert (await browser.read_until("img"))[4] == "image/png"
    await browser.read_until("sync")

    connection = guacd.wait_connected()
    assert connection.parameters["password"] == PASSWORD
    assert connection.parameters["username"] == "Administrator"
    assert connection.parameters["domain"] == "CORP"
    assert connection.parameters["hostname"] == "127.0.0.1"
    assert connection.parameters["port"] == "3389"

    browser.send("", "ping", "12345")
    browser.send("key", "97", "1")
    browser.send("mouse", "40", "50", "1")
    browser.send("size", "1100", "720")
    assert await guacd.received(lambda i: i[0] == "key") == ("key", "97", "1")
    assert await guacd.received(lambda i: i[0] == "mouse") == ("mouse", "40", "50", "1")
    assert await guacd.received(lambda i: i[0] == "size") == ("size", "1100", "720")
    browser.seen.clear()
    assert await browser.read_until("") == ("", "ping", "12345")
    # Pings are the tunnel's own: they never reach guacd.
    assert not any(i[0] == "" for i in connection.received)

    browser.ws.close()
    await guacd.closed(connection)
    log_text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Remote desktop to win-1 as Administrator" in log_text
    assert PASSWORD not in log_text
    server_log.removeHandler(caplog.handler)


async def test_a_session_opens_one_tunnel_only(api, jp_ws_fetch, guacd):
    _, created = await create(api)
    browser = await tunnel(jp_ws_fetch, created["id"])
    await browser.read_until("sync")

    with pytest.raises(HTTPClientError) as caught:
        await tunnel(jp_ws_fetch, created["id"])
    assert caught.value.code == 404
    browser.ws.close()


async def test_guacd_errors_reach_the_browser_explained(api, jp_ws_fetch, guacd):
    guacd.password = "something else"
    _, created = await create(api)
    browser = await tunnel(jp_ws_fetch, created["id"])

    error = await browser.read_until("error")

    assert error[2] == str(0x0301)
    assert "refused the user name or password" in error[1]
    assert PASSWORD not in error[1]
    browser.ws.close()


async def test_errors_after_connecting_are_explained(api, jp_ws_fetch, guacd):
    _, created = await create(api)
    browser = await tunnel(jp_ws_fetch, created["id"])
    await browser.read_until("sync")

    guacd.send_error("Forcibly disconnected", 0x020B)

    error = await browser.read_until("error")
    assert error[2] == str(0x020B)
    assert "closed by an administrator" in error[1]
    assert "Forcibly disconnected" in error[1]
    browser.ws.close()


async def test_unreachable_guacd_is_reported(
    api, jp_ws_fetch, jp_serverapp, closed_port
):
    jp_serverapp.web_app.settings["workbench_rdp"].config = type(
        jp_serverapp.web_app.settings["workbench_rdp"].config
    )(guacd_host="127.0.0.1", guacd_port=closed_port)
    _, created = await create(api)
    browser = await tunnel(jp_ws_fetch, created["id"])

    error = await browser.read_until("error")

    assert error[2] == str(0x0207)
    assert f"Cannot connect to guacd at 127.0.0.1:{closed_port}" in error[1]
    browser.ws.close()


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"instance": "nowhere"}, 404, "not_found"),
        ({"instance": "lin-1"}, 400, "bad_request"),
        ({"instance": ""}, 400, "bad_request"),
        ({"password": 7}, 400, "bad_request"),
        ({"width": 10}, 400, "bad_request"),
    ],
)
async def test_bad_requests_are_refused(api, fields, status, code):
    got, body = await create(api, **fields)

    assert (got, body["error"]) == (status, code), body


async def test_the_client_page_is_served_to_authenticated_users(jp_fetch):
    page = await jp_fetch("workbench", "static", "rdp.html")
    assert page.code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]

    script = await jp_fetch("workbench", "static", "guacamole-common.js")
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert b"WebSocketTunnel" in script.body

    for missing in ("nope.html", "..%2Fserver%2Fapp.py"):
        response = await jp_fetch("workbench", "static", missing, raise_error=False)
        assert response.code == 404, missing


async def test_notebook_widget_shows_the_desktop_page(
    jp_http_port, jp_base_url, jp_auth_header, jp_ws_fetch, guacd
):
    from jupyter_workbench import Workbench

    token = jp_auth_header["Authorization"].split(" ", 1)[1]
    wb = Workbench(url=f"http://localhost:{jp_http_port}{jp_base_url}", token=token)
    try:
        widget = await wb.aio.rdp(
            "win-1", username="Administrator", password=PASSWORD, width=800, height=600
        )
    finally:
        await asyncio.to_thread(wb.close)

    prefix = f'<iframe src="{jp_base_url}workbench/static/rdp.html?session='
    assert widget.value.startswith(prefix), widget.value
    assert 'width="800" height="600"' in widget.value
    assert PASSWORD not in widget.value
    session = widget.value[len(prefix) :].split('"')[0]
    browser = await tunnel(jp_ws_fetch, session)
    await browser.read_until("sync")
    assert guacd.wait_connected().parameters["password"] == PASSWORD
    browser.ws.close()


async def test_the_in_process_gateway_cannot_show_desktops():
    from jupyter_workbench.gateway.rdp import RDPNotSupported
    from jupyter_workbench.kernel.rdp import create_desktop

    with pytest.raises(RDPNotSupported, match="needs the Jupyter server"):
        not_a_workbench: Any = object()
        await create_desktop(not_a_workbench, "win-1", username="a", password="b")


async def test_webapp_mode_signs_in_to_a_guacamole_app(api, jp_serverapp):
    # There is no Guacamole web app here: this stand-in for its /api/tokens
    # decrypts the posted data the way the JSON auth extension documents.
    import json as jsonlib
    import urllib.parse

    from tornado import httpserver, netutil, web

    from jupyter_workbench.gateway.guacamole_json import (
        decrypt_and_verify,
        parse_secret,
    )

    secret = "0123456789abcdef0123456789abcdef"
    received: list[dict[str, Any]] = []

    class Tokens(web.RequestHandler):
        def post(self) -> None:
            data = urllib.parse.parse_qs(self.request.body.decode())["data"][0]
            received.append(
                jsonlib.loads(decrypt_and_verify(data, parse_secret(secret)))
            )
            self.write({"authToken": "T0K3N", "dataSource": "json"})

    [sock] = netutil.bind_sockets(0, "127.0.0.1")
    server = httpserver.HTTPServer(web.Application([(r"/guac/api/tokens", Tokens)]))
    server.add_sockets([sock])
    base = f"http://127.0.0.1:{sock.getsockname()[1]}/guac"
    settings = jp_serverapp.web_app.settings
    settings["workbench_guacamole_url"] = base
    settings["workbench_guacamole_json_secret"] = secret
    try:
        status, body = await create(api)
    finally:
        server.stop()
        await server.close_all_connections()

    assert status == 201, body
    assert body["mode"] == "webapp"
    assert body["url"].startswith(f"{base}/#/client/") and "token=T0K3N" in body["url"]
    assert PASSWORD not in body["url"]
    [document] = received
    assert document["username"] and document["expires"] > 0
    parameters = document["connections"]["win-1"]["parameters"]
    assert document["connections"]["win-1"]["protocol"] == "rdp"
    assert parameters["password"] == PASSWORD
    assert parameters["hostname"] == "127.0.0.1" and parameters["domain"] == "CORP"


async def test_quiet_sides_get_keepalive_nops(api, jp_ws_fetch, guacd, monkeypatch):
    from jupyter_workbench.server import rdp_tunnel

    monkeypatch.setattr(rdp_tunnel, "KEEPALIVE", 0.2)
    _, created = await create(api)
    browser = await tunnel(jp_ws_fetch, created["id"])
    await browser.read_until("sync")

    # Neither the browser nor the stand-in says anything more: both get nop.
    assert await browser.read_until("nop") == ("nop",)
    assert await guacd.received(lambda i: i[0] == "nop") == ("nop",)
    browser.ws.close()
