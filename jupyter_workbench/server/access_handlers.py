"""REST handlers for access: policy explanations, recordings and the gateway key."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..gateway.credentials import Credentials
from ..gateway.policy import ACTIONS, SESSION_RECORDED
from .base import WorkbenchHandler


class PolicyExplainHandler(WorkbenchHandler):
    """Say whether a user may do an action on an instance, and which statement decides."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        action = self.get_query_argument("action", "")
        name = self.get_query_argument("instance", "")
        user = self.get_query_argument("user", "") or self.principal
        if not action or not name:
            raise web.HTTPError(400, reason="Give 'action' and 'instance'")
        if user != self.principal:
            self.gateway.access.require_admin(
                self.principal, "explain the policies for another user"
            )
        recorded = self.get_query_argument("session_recorded", "")
        if recorded not in ("", "true", "false"):
            raise web.HTTPError(400, reason="'session_recorded' is true or false")
        context = {SESSION_RECORDED: recorded == "true"} if recorded else None
        decision = self.gateway.explain(user, action, name, context=context)
        self.reply(
            {
                **decision.to_dict(),
                "user": user,
                "instance": name,
                "groups": sorted(self.gateway.access.groups(user)),
                "known_actions": sorted(ACTIONS),
            }
        )


class RecordingsHandler(WorkbenchHandler):
    """List the terminal recordings of the user (any user's, for administrators)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        owner = self._owner()
        self.reply(
            {
                "user": owner,
                "recordings": self.gateway.access.recordings.list(owner),
            }
        )

    def _owner(self) -> str:
        user = self.get_query_argument("user", "") or self.principal
        if user != self.principal:
            self.gateway.access.require_admin(
                self.principal, "see another user's recordings"
            )
        return user


class RecordingHandler(RecordingsHandler):
    """One recording, as an asciicast v2 file."""

    @web.authenticated
    @authorized
    async def get(self, terminal_id: str) -> None:
        # A recording is named by the terminal it recorded.
        path = self.gateway.access.recordings.path(self._owner(), terminal_id)
        if self.get_query_argument("format", "") == "json":
            # For clients whose HTTP helper expects JSON (the kernel client).
            text = path.read_text(encoding="utf-8")
            self.reply({"id": terminal_id, "cast": text})
            return
        self.set_header("Content-Type", "application/x-asciicast")
        self.set_header(
            "Content-Disposition", f'attachment; filename="{terminal_id}.cast"'
        )
        self.finish(path.read_bytes())


class GatewayKeyHandler(WorkbenchHandler):
    """Show, create or rotate the gateway key (creating and rotating: administrators)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        status = self.gateway.gateway_key_status()
        status["admin"] = self.gateway.access.is_admin(self.principal)
        self.reply(status)

    @web.authenticated
    @authorized
    async def post(self) -> None:
        rotate = self.body().get("rotate", False)
        if not isinstance(rotate, bool):
            raise web.HTTPError(400, reason="'rotate' must be true or false")
        self.reply(self.gateway.create_gateway_key(self.principal, rotate=rotate))


class AuthorizeInstanceHandler(WorkbenchHandler):
    """Install the gateway key on an instance with a one-time password login."""

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        body = self.body()
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not username.strip():
            raise web.HTTPError(400, reason="'username' is required")
        if not isinstance(password, str):
            raise web.HTTPError(400, reason="'password' must be a string")
        credentials = Credentials(username.strip(), password=password)
        result = await self.gateway.authorize_instance(
            self.principal, name, credentials
        )
        self.reply(result)


def routes(api: str) -> list[tuple[str, Any]]:
    """Return the URL table of these handlers under *api*."""
    return [
        (f"{api}/policy/explain", PolicyExplainHandler),
        (f"{api}/recordings", RecordingsHandler),
        (f"{api}/recordings/(?P<terminal_id>[0-9a-f]+)", RecordingHandler),
        (f"{api}/gateway-key", GatewayKeyHandler),
        (f"{api}/instances/(?P<name>[^/]+)/gateway-key", AuthorizeInstanceHandler),
    ]
