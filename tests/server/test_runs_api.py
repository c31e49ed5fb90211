"""Batch runs through the REST API and the events websocket, on a real server."""

from __future__ import annotations

import json

from sshd import LocalUser, SSHServer


def _credentials(user: LocalUser) -> dict[str, str]:
    return {"username": user.name, "password": user.password}


async def _trust(api, sshd: SSHServer, user: LocalUser) -> None:
    status, body = await api(
        "POST", "instances", "real", "login", body=_credentials(user)
    )
    assert status == 409 and body["error"] == "host_key_unknown"
    status, _ = await api(
        "POST",
        "instances",
        "real",
        "hostkey",
        body={"fingerprint": sshd.host_key_fingerprint},
    )
    assert status == 200


async def _events(jp_ws_fetch, run_id: str) -> list[dict]:
    ws = await jp_ws_fetch("workbench", "api", "v1", "runs", run_id, "events")
    events = []
    while (message := await ws.read_message()) is not None:
        events.append(json.loads(message))
    ws.close()
    return events


async def test_run_streams_events_and_reports_results(api, jp_ws_fetch, sshd, ssh_user):
    await _trust(api, sshd, ssh_user)
    status, run = await api(
        "POST",
        "runs",
        body={
            "targets": "real",
            "command": "sleep 0.5; echo $((6*7)); echo oops >&2; exit 2",
            "credentials": _credentials(ssh_user),
            "env": {"X": "1"},
        },
    )
    assert status == 201, run
    assert run["hosts"][0]["host"] == "real"
    assert ssh_user.password not in json.dumps(run)

    events = await _events(jp_ws_fetch, run["id"])
    output = [(e["stream"], e["data"]) for e in events if e["type"] == "output"]
    assert ("stdout", "42\n") in output and ("stderr", "oops\n") in output
    assert events[-1] == {**events[-1], "type": "run", "state": "done"}
    final = [e for e in events if e["type"] == "host"][-1]
    assert final["state"] == "failed" and final["exit_status"] == 2

    status, body = await api("GET", "runs", run["id"])
    assert status == 200
    [host] = body["hosts"]
    assert (host["stdout"], host["stderr"], host["exit_status"]) == (
        "42\n",
        "oops\n",
        2,
    )

    status, listed = await api("GET", "runs")
    assert [r["id"] for r in listed["runs"]] == [run["id"]]

    status, again = await api("POST", "runs", run["id"], "rerun")
    assert status == 201 and again["parent"] == run["id"]
    await _events(jp_ws_fetch, again["id"])
    status, diff = await api("GET", "runs", run["id"], "compare", again["id"])
    assert status == 200 and diff == {"changed": {}}


async def test_cancel_over_rest(api, jp_ws_fetch, sshd, ssh_user):
    await _trust(api, sshd, ssh_user)
    status, run = await api(
        "POST",
        "runs",
        body={
            "targets": "real",
            "command": "sleep 3003",
            "credentials": _credentials(ssh_user),
        },
    )
    assert status == 201
    ws = await jp_ws_fetch("workbench", "api", "v1", "runs", run["id"], "events")
    while json.loads(await ws.read_message()).get("state") != "running":
        pass

    status, body = await api("DELETE", "runs", run["id"])
    assert status == 200 and body["state"] == "cancelled"
    assert body["hosts"][0]["state"] == "cancelled"
    while await ws.read_message() is not None:
        pass
    ws.close()


async def test_bad_runs_are_refused_with_reasons(api):
    status, body = await api("POST", "runs", body={"targets": "real"})
    assert status == 400 and "command" in body["message"]
    status, body = await api(
        "POST", "runs", body={"targets": "nope,web-*", "command": "true"}
    )
    assert status == 400 and body["error"] == "bad_targets"
    assert body["details"]["unmatched"] == ["nope", "web-*"]
    status, body = await api(
        "POST", "runs", body={"targets": "real", "command": "true", "concurrency": "x"}
    )
    assert status == 400
    status, body = await api("GET", "runs", "abc123")
    assert status == 404 and body["error"] == "not_found"
    status, body = await api(
        "POST", "runs", body={"targets": "real", "command": "true"}
    )
    assert status == 201  # no login and no credentials: the host reports it
