"""REST handlers: instances, logins, host keys, diagnosis and terminals."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..gateway.connect import LoginChallenge
from ..gateway.credentials import Credentials
from ..gateway.pool import Login
from .base import WorkbenchHandler

_LOGIN_FIELDS = ("password", "private_key", "key_path", "passphrase")


class InstancesHandler(WorkbenchHandler):
    """The instances of the inventory, with the principal's login state."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply({"instances": self.gateway.instances(self.principal)})


class LoginHandler(WorkbenchHandler):
    """Log in to an instance, answer its prompts, or log out."""

    @web.authenticated
    @authorized
    async def post(self, name: str, challenge: str | None = None) -> None:
        body = self.body()
        if challenge:
            responses = body.get("responses")
            if not isinstance(responses, list) or not all(
                isinstance(r, str) for r in responses
            ):
                raise web.HTTPError(400, reason="'responses' must be a list of strings")
            outcome = await self.gateway.respond(self.principal, challenge, responses)
        else:
            credentials = (
                self.gateway.gateway_key_credentials(_username(body))
                if body.get("gateway_key") is True
                else _credentials(body)
            )
            outcome = await self.gateway.login(self.principal, name, credentials)
        self.reply(self._outcome(outcome))

    @web.authenticated
    @authorized
    async def delete(self, name: str, challenge: str | None = None) -> None:
        self.gateway.inventory.get(name)
        username = self.get_query_argument("user", None)
        await self.gateway.logout(self.principal, name, username)
        self.set_status(204)
        self.finish()

    def _outcome(self, outcome: Login | LoginChallenge) -> dict[str, Any]:
        if isinstance(outcome, LoginChallenge):
            return outcome.to_dict()
        instance = next(
            i
            for i in self.gateway.instances(self.principal)
            if i["name"] == outcome.instance.name
        )
        return {"status": "connected", "instance": instance}


class HostKeyHandler(WorkbenchHandler):
    """Show and confirm the host key an instance presented."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        instance = self.gateway.inventory.get(name)
        known = self.gateway.known_hosts(self.principal).trusted(
            instance.host, instance.port
        )
        self.reply(
            {
                "known": [key.get_fingerprint("sha256") for key in known],
                "pending": self.gateway.pending_host_key(self.principal, name),
            }
        )

    @web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        fingerprint = self.body().get("fingerprint")
        if not isinstance(fingerprint, str) or not fingerprint.startswith("SHA256:"):
            raise web.HTTPError(
                400, reason="'fingerprint' must be a SHA256:… fingerprint"
            )
        trusted_for = self.gateway.accept_host_key(self.principal, name, fingerprint)
        self.reply({"trusted": fingerprint, "instance": trusted_for})

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        removed = self.gateway.forget_host_key(self.principal, name)
        self.reply({"removed": removed})


class DiagnoseHandler(WorkbenchHandler):
    """Walk resolve, route, TCP, SSH and auth for an instance."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        diagnosis = await self.gateway.diagnose(self.principal, name)
        self.reply(diagnosis.to_dict())


class TerminalsHandler(WorkbenchHandler):
    """List the principal's terminals, or open one."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        sessions = self.gateway.terminals(self.principal)
        self.reply({"terminals": [s.to_dict() for s in sessions]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        name = body.get("instance")
        if not isinstance(name, str):
            raise web.HTTPError(400, reason="'instance' must name an instance")
        rows, cols = _size(body.get("rows", 24)), _size(body.get("cols", 80))
        login_user = body.get("login_user")
        if login_user is not None and not isinstance(login_user, str):
            raise web.HTTPError(400, reason="'login_user' must be a user name")
        session = await self.gateway.open_terminal(
            self.principal, name, rows=rows, cols=cols, login_user=login_user
        )
        self.reply(session.to_dict(), status=201)


class TerminalHandler(WorkbenchHandler):
    """One terminal: show or close it."""

    @web.authenticated
    @authorized
    async def get(self, terminal_id: str) -> None:
        self.reply(self.gateway.terminal(self.principal, terminal_id).to_dict())

    @web.authenticated
    @authorized
    async def delete(self, terminal_id: str) -> None:
        session = self.gateway.terminal(self.principal, terminal_id)
        await session.close("Terminal closed by the user")
        self.set_status(204)
        self.finish()


def _username(body: dict[str, Any]) -> str:
    username = body.get("username")
    if not isinstance(username, str) or not username.strip():
        raise web.HTTPError(400, reason="'username' is required")
    return username.strip()


def _credentials(body: dict[str, Any]) -> Credentials | None:
    username = body.get("username")
    fields = {name: body.get(name) for name in _LOGIN_FIELDS}
    if username is None and not any(fields.values()) and not body.get("agent"):
        return None  # the demo instance: the gateway holds its credentials
    if not isinstance(username, str) or not username.strip():
        raise web.HTTPError(400, reason="'username' is required")
    for name, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise web.HTTPError(400, reason=f"'{name}' must be a string")
    return Credentials(
        username.strip(),
        password=fields["password"],
        private_key=fields["private_key"] or None,
        key_path=fields["key_path"] or None,
        passphrase=fields["passphrase"] or None,
        agent=bool(body.get("agent")),
    )


def _size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise web.HTTPError(
            400, reason="'rows' and 'cols' must be whole numbers from 1 to 1000"
        )
    return value
