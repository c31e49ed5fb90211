"""Access policies, audit, recordings and the gateway key on a real server and sshd.

Three named users (as under JupyterHub): alice is in the ``ops`` group
that a policy lets log in to the instance, bob is in no group, carol is an
administrator. The policies come from a policy file, so tests can change
them while the server runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth.identity import IdentityProvider, User
from tornado.httpclient import HTTPClientError

from jupyter_workbench.gateway.recording import read_cast

TOKENS = {"alice-token": "alice", "bob-token": "bob", "carol-token": "carol"}
GROUPS = {"alice": ["ops"], "bob": [], "carol": ["admins"]}
LOGIN = "ecs-workbench:LoginInstance"


@dataclass
class GroupUser(User):
    """A user with groups, as JupyterHub's identity provides them."""

    groups: list[str] | None = None


class ThreeUserIdentityProvider(IdentityProvider):
    """Named users told apart by their token, with groups."""

    def get_user(self, handler: Any) -> User | None:
        token = handler.request.headers.get("Authorization", "").removeprefix("token ")
        name = TOKENS.get(token)
        if name is None:
            return None
        handler._token_authenticated = True
        return GroupUser(username=name, groups=GROUPS[name])


def allow_ops(instance: str = "real") -> dict:
    return {
        "policies": [
            {
                "name": "ops-login",
                "groups": ["ops"],
                "document": {
                    "Version": "1",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": LOGIN,
                            "Resource": f"acs:ecs-workbench:*:*:workbench/{instance}",
                        }
                    ],
                },
            }
        ]
    }


def write_policies(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policies.json"
    write_policies(path, allow_ops())
    return path


@pytest.fixture
def audit_file(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "audit.jsonl"


@pytest.fixture
def jp_server_config(jp_server_config, policy_file, audit_file):
    jp_server_config["ServerApp"]["identity_provider_class"] = ThreeUserIdentityProvider
    jp_server_config["WorkbenchApp"].update(
        policy_file=str(policy_file),
        admin_users=["carol"],
        audit_log=str(audit_file),
        record_terminals=True,
    )
    return jp_server_config


@pytest.fixture
def as_user(jp_fetch):
    async def call(user: str, method: str, *path: str, body: Any = None, **kw: Any):
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
            headers={"Authorization": f"token {user}-token", **kw.pop("headers", {})},
            **kw,
        )
        text = response.body.decode() if response.body else ""
        try:
            return response.code, json.loads(text) if text else None
        except ValueError:
            return response.code, text

    return call


@pytest.fixture
def socket(jp_ws_fetch):
    async def connect(user: str, terminal_id: str):
        return await jp_ws_fetch(
            "workbench",
            "api",
            "v1",
            "terminals",
            terminal_id,
            "channel",
            headers={"Authorization": f"token {user}-token"},
        )

    return connect


async def password_login(as_user, user: str, ssh_user, **extra: Any) -> dict:
    credentials = {"username": ssh_user.name, "password": ssh_user.password}
    status, body = await as_user(
        user, "POST", "instances", "real", "login", body=credentials, **extra
    )
    if status == 409 and body["error"] == "host_key_unknown":
        fingerprint = body["details"]["fingerprint"]
        status, body = await as_user(
            user,
            "POST",
            "instances",
            "real",
            "hostkey",
            body={"fingerprint": fingerprint},
        )
        assert status == 200, body
        status, body = await as_user(
            user, "POST", "instances", "real", "login", body=credentials, **extra
        )
    assert status == 200, body
    return body


async def read_until(ws, needle: str) -> str:
    seen = ""

    async def loop() -> None:
        nonlocal seen
        while needle not in seen:
            message = await ws.read_message()
            assert message is not None, f"socket closed; saw {seen!r}"
            kind, *rest = json.loads(message)
            if kind == "stdout":
                seen += rest[0]

    await asyncio.wait_for(loop(), 10)
    return seen


def audit(audit_file: Path) -> list[dict]:
    return [json.loads(line) for line in audit_file.read_text().splitlines()]


async def test_a_denied_user_cannot_reach_the_instance_by_any_route(
    as_user, socket, sshd, ssh_user, policy_file
):
    await password_login(as_user, "alice", ssh_user)
    status, terminal = await as_user(
        "alice", "POST", "terminals", body={"instance": "real"}
    )
    assert status == 201

    # bob: no statement allows him anything.
    credentials = {"username": ssh_user.name, "password": ssh_user.password}
    for method, path, body in [
        ("POST", ("instances", "real", "login"), credentials),
        (
            "POST",
            ("instances", "real", "hostkey"),
            {"fingerprint": sshd.host_key_fingerprint},
        ),
        ("GET", ("instances", "real", "diagnose"), None),
        ("POST", ("terminals",), {"instance": "real"}),
    ]:
        status, reply = await as_user("bob", method, *path, body=body)
        assert status == 403, (path, reply)
        assert reply["error"] == "policy_denied"
        assert "no statement allows it for bob" in reply["message"]

    status, body = await as_user("bob", "GET", "instances")
    assert body["instances"][0]["allowed_actions"] == []
    status, body = await as_user("alice", "GET", "instances")
    assert body["instances"][0]["allowed_actions"] == [LOGIN]

    # Now a Deny for alice's group: her existing terminal can no longer be
    # attached, and nothing new can be opened.
    data = allow_ops()
    data["policies"].append(
        {
            "name": "freeze",
            "groups": ["ops"],
            "document": {
                "Version": "1",
                "Statement": [
                    {"Effect": "Deny", "Action": "ecs-workbench:*", "Resource": "*"}
                ],
            },
        }
    )
    write_policies(policy_file, data)
    with pytest.raises(HTTPClientError) as caught:
        await socket("alice", terminal["id"])
    assert caught.value.code == 403
    status, reply = await as_user(
        "alice", "POST", "terminals", body={"instance": "real"}
    )
    assert (
        status == 403 and "statement 1 of policy freeze denies it" in reply["message"]
    )
    status, reply = await as_user(
        "alice", "POST", "instances", "real", "login", body=credentials
    )
    assert status == 403 and reply["details"]["policy"] == "freeze"

    # Lifting the Deny lets her reattach the terminal she had.
    write_policies(policy_file, allow_ops())
    ws = await socket("alice", terminal["id"])
    assert json.loads(await ws.read_message())[0] == "setup"
    ws.close()
    status, _ = await as_user("alice", "DELETE", "terminals", terminal["id"])
    assert status == 204


async def test_explain_names_the_statement_and_guards_other_users(as_user):
    query = {"action": LOGIN, "instance": "real"}
    status, body = await as_user("alice", "GET", "policy", "explain", params=query)
    assert status == 200, body
    assert body["allowed"] is True
    assert (
        body["explanation"]
        == "allowed, because statement 1 of policy ops-login allows it"
    )
    assert body["groups"] == ["ops"]

    status, body = await as_user("bob", "GET", "policy", "explain", params=query)
    assert body["allowed"] is False
    assert body["explanation"] == "denied, because no statement allows it for bob"

    status, body = await as_user(
        "bob", "GET", "policy", "explain", params={**query, "user": "alice"}
    )
    assert status == 403 and body["error"] == "admin_required"
    status, body = await as_user(
        "carol", "GET", "policy", "explain", params={**query, "user": "alice"}
    )
    assert status == 200 and body["allowed"] is True

    status, body = await as_user(
        "alice", "GET", "policy", "explain", params={"action": LOGIN}
    )
    assert status == 400


async def test_audit_records_each_event_and_no_password_appears_anywhere(
    as_user, socket, sshd, ssh_user, audit_file, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    notebook = {"X-Workbench-Notebook": "work/%C3%BC.ipynb", "X-Workbench-Cell": "7"}
    await password_login(as_user, "alice", ssh_user, headers=notebook)
    wrong = {"username": ssh_user.name, "password": "not-" + ssh_user.password}
    status, _ = await as_user("alice", "POST", "instances", "real", "login", body=wrong)
    assert status == 401
    status, _ = await as_user("bob", "POST", "instances", "real", "login", body=wrong)
    assert status == 403

    status, terminal = await as_user(
        "alice", "POST", "terminals", body={"instance": "real"}
    )
    ws = await socket("alice", terminal["id"])
    # A password typed at a prompt that does not echo reaches the shell but
    # neither the screen nor the recording.
    ws.write_message(json.dumps(["stdin", "read -s secret; echo got-${#secret}\r"]))
    await asyncio.sleep(0.5)
    ws.write_message(json.dumps(["stdin", ssh_user.password + "\r"]))
    await read_until(ws, f"got-{len(ssh_user.password)}")
    status, _ = await as_user("alice", "DELETE", "terminals", terminal["id"])
    while await ws.read_message() is not None:
        pass
    ws.close()

    events = audit(audit_file)
    assert stat.S_IMODE(audit_file.stat().st_mode) == 0o600
    kinds = [(e["event"], e["outcome"], e["user"]) for e in events]
    assert ("host_key_trusted", "ok", "alice") in kinds
    assert ("login", "ok", "alice") in kinds
    assert ("login", "failed", "alice") in kinds
    assert ("denied", "denied", "bob") in kinds
    assert ("terminal_open", "ok", "alice") in kinds
    assert ("terminal_close", "ok", "alice") in kinds
    for event in events:
        assert event["client"] == "127.0.0.1"
        assert event["time"].endswith("Z")
        assert event["instance"] == "real"
    ok_login = next(e for e in events if e["event"] == "login" and e["outcome"] == "ok")
    assert ok_login["notebook"] == "work/ü.ipynb" and ok_login["cell"] == "7"
    assert ok_login["method"] == "password" and ok_login["login_user"] == ssh_user.name
    denied = next(e for e in events if e["event"] == "denied")
    assert denied["action"] == LOGIN and "no statement allows" in denied["reason"]

    # Search for the password: audit, recordings, server log, and every file
    # the server wrote under the test's folders.
    secret = ssh_user.password
    wrong_secret = "not-" + ssh_user.password
    assert caplog.records, "the server log was captured"
    log_text = "\n".join(r.getMessage() for r in caplog.records)
    assert secret not in log_text and wrong_secret not in log_text
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".cast" for p in written)
    for path in written:
        data = path.read_bytes()
        assert secret.encode() not in data, path
        assert wrong_secret.encode() not in data, path


async def test_recording_holds_the_session_output_as_asciicast_v2(
    as_user, socket, sshd, ssh_user, jp_serverapp, jp_http_port, jp_base_url
):
    await password_login(as_user, "alice", ssh_user)
    status, terminal = await as_user(
        "alice", "POST", "terminals", body={"instance": "real", "rows": 30, "cols": 100}
    )
    ws = await socket("alice", terminal["id"])
    seen = ""
    assert json.loads(await ws.read_message())[0] == "setup"
    ws.write_message(json.dumps(["stdin", "printf 'a\\xc3\\xb6b %s\\n' $((6*7))\r"]))
    seen += await read_until(ws, "aöb 42")
    ws.write_message(json.dumps(["set_size", 20, 70]))
    ws.write_message(json.dumps(["stdin", "stty size\r"]))
    seen += await read_until(ws, "20 70")
    gateway = jp_serverapp.web_app.settings["workbench_gateway"]
    session = gateway.terminal("alice", terminal["id"])
    await as_user("alice", "DELETE", "terminals", terminal["id"])
    ws.close()
    # Read the scrollback once the session has ended: the shell's next prompt
    # may still arrive after "20 70", and the recording holds it too.
    screen = session.scrollback.text()

    status, listing = await as_user("alice", "GET", "recordings")
    assert status == 200
    [entry] = listing["recordings"]
    assert entry["id"] == terminal["id"] and entry["title"] == f"{ssh_user.name}@real"
    status, _ = await as_user("bob", "GET", "recordings", terminal["id"])
    assert status == 404, "bob sees only his own recordings"
    status, body = await as_user("bob", "GET", "recordings", params={"user": "alice"})
    assert status == 403
    status, body = await as_user("carol", "GET", "recordings", params={"user": "alice"})
    assert [r["id"] for r in body["recordings"]] == [terminal["id"]]

    status, text = await as_user("alice", "GET", "recordings", terminal["id"])
    assert status == 200
    path = gateway.access.recordings.path("alice", terminal["id"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert text == path.read_text()
    header, events = read_cast(path)
    assert (header["version"], header["width"], header["height"]) == (2, 100, 30)
    output = "".join(e[2] for e in events if e[1] == "o")
    assert output == screen
    assert seen in output
    assert ["r", "70x20"] in [e[1:] for e in events]
    times = [e[0] for e in events]
    assert times == sorted(times)

    # Replay from a notebook: the kernel client fetches it and plays it back.
    import io

    from jupyter_workbench.kernel.client import Workbench

    wb = Workbench(f"http://localhost:{jp_http_port}{jp_base_url}", token="alice-token")
    try:
        [listed] = await wb.aio.recordings()
        replay = await wb.aio.recording(listed["id"])
    finally:
        await asyncio.to_thread(wb.close)
    played = io.StringIO()
    replay.play(speed=1000, max_idle=0.001, out=played)
    assert replay.output == screen == played.getvalue()


async def test_gateway_key_is_admin_only_and_rotation_retires_the_old_key(
    as_user, sshd, ssh_user, jp_serverapp, tmp_path, policy_file
):
    status, body = await as_user("alice", "GET", "gateway-key")
    assert status == 200 and body["exists"] is False and body["admin"] is False
    status, body = await as_user("alice", "POST", "gateway-key")
    assert status == 403 and body["error"] == "admin_required"
    status, body = await as_user("carol", "POST", "gateway-key")
    assert (
        status == 200 and body["exists"] and body["fingerprint"].startswith("SHA256:")
    )
    key_file = tmp_path / "workbench" / "gateway_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    old_key = key_file.read_text()

    # carol may authorize only where the policies let her log in.
    data = allow_ops()
    data["policies"].append(
        {
            "name": "admins",
            "users": ["carol"],
            "document": allow_ops()["policies"][0]["document"],
        }
    )
    write_policies(policy_file, data)
    once = {"username": ssh_user.name, "password": ssh_user.password}
    status, body = await as_user(
        "alice", "POST", "instances", "real", "gateway-key", body=once
    )
    assert status == 403 and body["error"] == "admin_required"
    status, body = await as_user(
        "carol", "POST", "instances", "real", "gateway-key", body=once
    )
    assert status == 409 and body["error"] == "host_key_unknown"
    await as_user(
        "carol",
        "POST",
        "instances",
        "real",
        "hostkey",
        body={"fingerprint": body["details"]["fingerprint"]},
    )
    status, body = await as_user(
        "carol", "POST", "instances", "real", "gateway-key", body=once
    )
    assert status == 200, body
    keys = (ssh_user.home / ".ssh" / "authorized_keys").read_text()
    assert keys.count("jupyter-workbench-gateway") == 1

    by_key = {"username": ssh_user.name, "gateway_key": True}
    await password_login(as_user, "alice", ssh_user)  # trusts the host key
    status, body = await as_user(
        "alice", "POST", "instances", "real", "login", body=by_key
    )
    assert status == 200, body
    status, body = await as_user(
        "bob", "POST", "instances", "real", "login", body=by_key
    )
    assert status == 403, "the gateway key is governed by the policies too"

    status, body = await as_user("carol", "POST", "gateway-key", body={"rotate": True})
    assert status == 200
    status, body = await as_user(
        "alice", "POST", "instances", "real", "login", body=by_key
    )
    assert status == 401, "the new key is not installed yet"
    status, body = await as_user(
        "carol", "POST", "instances", "real", "gateway-key", body=once
    )
    assert status == 200
    status, body = await as_user(
        "alice", "POST", "instances", "real", "login", body=by_key
    )
    assert status == 200, body
    keys = (ssh_user.home / ".ssh" / "authorized_keys").read_text()
    assert keys.count("jupyter-workbench-gateway") == 1

    old = {"username": ssh_user.name, "private_key": old_key}
    status, body = await as_user(
        "alice", "POST", "instances", "real", "login", body=old
    )
    assert status == 401 and body["error"] == "auth_failed"


async def test_kernel_client_explains_and_names_its_notebook(
    jp_fetch, jp_http_port, jp_base_url, audit_file, monkeypatch
):
    # jp_fetch starts the HTTP server that the kernel client talks to.
    from jupyter_workbench.gateway.errors import AdminRequired, PolicyDenied
    from jupyter_workbench.kernel.client import Workbench

    monkeypatch.setenv("JPY_SESSION_NAME", "reports/weekly run.ipynb")
    url = f"http://localhost:{jp_http_port}{jp_base_url}"
    bob = Workbench(url, token="bob-token")
    try:
        answer = await bob.aio.explain("LoginInstance", "real")
        assert answer["explanation"] == "denied, because no statement allows it for bob"
        with pytest.raises(AdminRequired):
            await bob.aio.explain("LoginInstance", "real", user="alice")
        with pytest.raises(PolicyDenied, match="no statement allows it for bob"):
            await bob.aio.login("real", "someone", password="never-used")
    finally:
        await asyncio.to_thread(bob.close)

    denials = [e for e in audit(audit_file) if e["event"] == "denied"]
    assert [e["action"] for e in denials] == [
        "explain the policies for another user",
        LOGIN,
    ]
    denied = denials[1]
    assert denied["notebook"] == "reports/weekly run.ipynb"
    assert "never-used" not in audit_file.read_text()
