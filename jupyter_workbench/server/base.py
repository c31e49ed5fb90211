"""What every workbench handler shares: auth, the principal, errors as JSON."""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import urllib.parse
from typing import Any

from jupyter_server.auth.identity import User
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from ..gateway.audit import Origin, current_origin
from ..gateway.batch import RunNotFound
from ..gateway.errors import (
    AdminRequired,
    AuthenticationFailed,
    ChecksumMismatch,
    HostKeyError,
    InstanceNotFound,
    NetworkRefused,
    NotLoggedIn,
    PolicyDenied,
    RemoteExists,
    RemoteNoSpace,
    RemoteNotFound,
    RemotePermissionDenied,
    SSHError,
    TerminalNotFound,
    Unreachable,
    WorkbenchError,
)
from ..gateway.gateway import Gateway
from ..gateway.gatewaykey import GatewayKeyMissing
from ..gateway.recording import RecordingNotFound
from ..gateway.system.errors import (
    SudoDenied,
    SudoRequired,
    SystemCommandFailed,
    ToolMissing,
)

AUTH_RESOURCE = "workbench"
KEY_SCHEME = "workbench-key"
#: Headers a kernel client sends to say which notebook and cell acted.
NOTEBOOK_HEADER = "X-Workbench-Notebook"
CELL_HEADER = "X-Workbench-Cell"

_STATUS = (
    (InstanceNotFound, 404),
    (TerminalNotFound, 404),
    (RemoteNotFound, 404),
    (RemotePermissionDenied, 403),
    (RemoteExists, 409),
    (ChecksumMismatch, 409),
    (RemoteNoSpace, 507),
    (RecordingNotFound, 404),
    (PolicyDenied, 403),
    (AdminRequired, 403),
    (GatewayKeyMissing, 409),
    (RunNotFound, 404),
    (AuthenticationFailed, 401),
    (NetworkRefused, 403),
    (HostKeyError, 409),
    (NotLoggedIn, 409),
    (Unreachable, 502),
    (SSHError, 502),
    (SudoRequired, 403),
    (SudoDenied, 403),
    (ToolMissing, 501),
    (SystemCommandFailed, 502),
)


def status_for(error: WorkbenchError) -> int:
    """Return the HTTP status that stands for *error*."""
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 400


class WorkbenchMixin(ExtensionHandlerMixin):
    """Shared by REST and websocket handlers of the extension."""

    auth_resource = AUTH_RESOURCE
    request: Any
    settings: dict[str, Any]

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.settings["workbench_gateway"]
        return gateway

    @property
    def principal(self) -> str:
        """Name whose logins and terminals this request may use.

        The first use in a request also tells the gateway the user's groups
        (for policies) and where the request came from (for the audit log).
        """
        user: User = self.current_user  # type: ignore[attr-defined]
        owner: str | None = self.settings.get("workbench_owner")
        name = owner if owner is not None else user.username
        if not getattr(self, "_workbench_identified", False):
            self._workbench_identified = True
            self.gateway.access.set_groups(name, user_groups(user))
            current_origin.set(self._origin())
        return name

    def _origin(self) -> Origin:
        headers = self.request.headers
        return Origin(
            client=self.request.remote_ip,
            notebook=_header_text(headers.get(NOTEBOOK_HEADER)),
            cell=_header_text(headers.get(CELL_HEADER)),
        )

    def kernel_key_user(self) -> User | None:
        """Return the owner when the request carries the server's kernel key."""
        scheme, _, value = self.request.headers.get("Authorization", "").partition(" ")
        expected: str = self.settings["workbench_kernel_key"]
        if scheme.lower() != KEY_SCHEME or not hmac.compare_digest(
            value.strip(), expected
        ):
            return None
        name = self.settings.get("workbench_owner") or os.environ.get(
            "JUPYTERHUB_USER", ""
        )
        return User(username=name or "owner", name=name or "owner")


def user_groups(user: Any) -> list[str]:
    """Return the groups a Jupyter identity carries.

    jupyter-server's `User` has no groups; an identity provider may add a
    ``groups`` attribute, and JupyterHub's single-user server keeps the hub's
    user model (with its ``groups``) in ``hub_user``.
    """
    groups = getattr(user, "groups", None)
    if groups is None:
        hub_user = getattr(user, "hub_user", None)
        groups = hub_user.get("groups") if isinstance(hub_user, dict) else None
    if not isinstance(groups, (list, tuple, set, frozenset)):
        return []
    return [g for g in groups if isinstance(g, str)]


def _header_text(value: str | None) -> str | None:
    # Informational only (any client may send it): keep it short and printable.
    if not value:
        return None
    # Kernel clients percent-encode it: header values are Latin-1 only.
    text = urllib.parse.unquote(value)
    return "".join(c for c in text if c.isprintable())[:1024] or None


class WorkbenchHandler(WorkbenchMixin, APIHandler):
    """Base of the REST handlers: JSON in, JSON out, errors with a code."""

    async def prepare(self) -> None:  # type: ignore[override]
        started: asyncio.Event | None = self.settings.get("workbench_started")
        if started is not None:
            await started.wait()
        user = self.kernel_key_user()
        if user is None:
            await super().prepare()
            return
        # The kernel key is sent in a header that browsers never attach on
        # their own, so it needs no XSRF check; the host check still applies.
        if not self.check_host():
            raise web.HTTPError(403)
        self.current_user = self._jupyter_current_user = user

    def body(self) -> dict[str, Any]:
        """Return the JSON body as a dict, or answer 400."""
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError as exc:
            raise web.HTTPError(400, reason="The body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise web.HTTPError(400, reason="The body must be a JSON object")
        return data

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        self.set_header("Content-Type", "application/json")
        if isinstance(exc, WorkbenchError):
            self.finish(json.dumps(exc.to_dict()))
            return
        reason = getattr(exc, "reason", None) or self._reason
        code = {400: "bad_request", 403: "forbidden", 404: "not_found"}.get(
            status_code, "error"
        )
        self.finish(json.dumps({"error": code, "message": reason, "details": {}}))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, WorkbenchError):
            # Expected outcomes (refusals, unreachable hosts): the gateway
            # already logged them without secrets; no traceback needed.
            return
        super().log_exception(typ, value, tb)

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, WorkbenchError):
            self.send_error(status_for(e), exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)


__all__ = ["AUTH_RESOURCE", "JupyterHandler", "WorkbenchHandler", "WorkbenchMixin"]
