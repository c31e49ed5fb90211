"""Batch runs over REST, and their live events over a websocket.

``POST runs`` starts a run, ``GET runs/{id}`` shows it with per-host
results, ``DELETE runs/{id}`` cancels it, ``POST runs/{id}/rerun`` runs
its failed hosts again, ``GET runs/{id}/compare/{other}`` lists the hosts
that changed, and ``runs/{id}/events`` streams what happens, host by host.
See ``docs/api.md``.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.websocket import WebSocketClosedError

from ..gateway.batch import BatchRun, Event, RunOptions, compare, options_from_dict
from ..gateway.credentials import Credentials
from ..gateway.errors import WorkbenchError
from .base import WorkbenchHandler
from .socket_base import WorkbenchSocketHandler

#: Output not yet sent to a slow socket, in characters, before output
#: events are dropped (and counted) so memory stays bounded.
PENDING_OUTPUT = 4 * 1024 * 1024

_SECRET_LOGIN_FIELDS = ("password", "private_key", "key_path", "passphrase")


class RunsHandler(WorkbenchHandler):
    """List the principal's runs, or start one."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        runs = self.gateway.runs.runs(self.principal)
        self.reply({"runs": [r.to_dict(output=False) for r in runs]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        targets, command = body.get("targets"), body.get("command")
        if not isinstance(targets, (str, list)) or not targets:
            raise web.HTTPError(400, reason="'targets' must select instances")
        if not isinstance(command, str) or not command.strip():
            raise web.HTTPError(400, reason="'command' must be a non-empty string")
        run = self.gateway.start_run(
            self.principal,
            targets,
            command,
            run_options(body),
            credentials=_credentials(body.get("credentials")),
        )
        self.reply(run.to_dict(output=False), status=201)


class RunHandler(WorkbenchHandler):
    """One run: its results, or cancel it."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        run = self.gateway.runs.get(self.principal, run_id)
        self.reply(run.to_dict(output=self.get_argument("output", "1") != "0"))

    @web.authenticated
    @authorized
    async def delete(self, run_id: str) -> None:
        run = self.gateway.runs.get(self.principal, run_id)
        await run.cancel()
        self.reply(run.to_dict(output=False))


class RerunHandler(WorkbenchHandler):
    """Run the failed hosts of a run again."""

    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        run = self.gateway.runs.rerun_failed(self.principal, run_id)
        self.reply(run.to_dict(output=False), status=201)


class CompareHandler(WorkbenchHandler):
    """The hosts whose exit status or output differ between two runs."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str, other_id: str) -> None:
        before = self.gateway.runs.get(self.principal, run_id)
        after = self.gateway.runs.get(self.principal, other_id)
        self.reply({"changed": compare(before, after)})


class RunEventsHandler(WorkbenchSocketHandler):
    """Stream a run's events: a snapshot first, then live, then close."""

    auth_action = "read"
    run: BatchRun | None = None

    async def get(self, run_id: str) -> None:
        await self.check_upgrade()
        try:
            self.run = self.gateway.runs.get(self.principal, run_id)
        except WorkbenchError as exc:
            raise web.HTTPError(404, reason=exc.message) from None
        await super().get(run_id)

    async def open(self, run_id: str) -> None:
        await ensure_async(super().open(run_id))
        assert self.run is not None
        self._queue: deque[Event] = deque()
        self._pending = 0
        self._dropped = 0
        self._wake = asyncio.Event()
        self._queue.extend(self.run.listen(self._on_event))
        self._wake.set()
        self._writer = asyncio.create_task(self._write_loop())

    def _on_event(self, event: Event) -> None:
        if event["type"] == "output":
            if self._pending > PENDING_OUTPUT:
                self._dropped += len(event["data"])
                return
            self._pending += len(event["data"])
        self._queue.append(event)
        self._wake.set()

    async def _write_loop(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    event = self._queue.popleft()
                    if event["type"] == "output":
                        self._pending -= len(event["data"])
                    if self._dropped:
                        await self._send({"type": "dropped", "chars": self._dropped})
                        self._dropped = 0
                    await self._send(event)
                    if event["type"] == "run" and event["state"] != "running":
                        self.close()
                        return
        except WebSocketClosedError:
            return

    async def on_message(self, message: str | bytes) -> None:
        # The stream is one-way; a ping keeps idle proxies from closing it.
        if message == '["ping"]':
            await self._send({"type": "pong"})

    def on_close(self) -> None:
        super().on_close()
        if self.run is not None:
            self.run.unlisten(self._on_event)
        writer = getattr(self, "_writer", None)
        if writer is not None and not writer.done():
            writer.cancel()

    async def _send(self, event: Event) -> None:
        if self.ws_connection is None or self.ws_connection.is_closing():
            raise WebSocketClosedError()
        await self.write_message(json.dumps(event))


def run_options(body: dict[str, Any]) -> RunOptions:
    """Read the run options of a request body (bad fields answer 400)."""
    return options_from_dict(body)


def _credentials(data: Any) -> Credentials | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise web.HTTPError(400, reason="'credentials' must be an object")
    username = data.get("username")
    if not isinstance(username, str) or not username.strip():
        raise web.HTTPError(400, reason="'credentials.username' is required")
    fields = {name: data.get(name) for name in _SECRET_LOGIN_FIELDS}
    for name, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise web.HTTPError(400, reason=f"'credentials.{name}' must be a string")
    return Credentials(
        username.strip(),
        password=fields["password"],
        private_key=fields["private_key"] or None,
        key_path=fields["key_path"] or None,
        passphrase=fields["passphrase"] or None,
        agent=bool(data.get("agent")),
    )
