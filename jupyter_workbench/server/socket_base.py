"""The base of the extension's websockets: REST's authentication, before the upgrade.

jupyter-server lets a websocket through without credentials unless the
handler refuses it, and a websocket gets no ``@authenticated`` redirect, so
every check happens in `WorkbenchSocketHandler.check_upgrade`, which each
handler's ``get`` calls before looking anything up.
"""

from __future__ import annotations

from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketHandler

from .base import WorkbenchMixin


class WorkbenchSocketHandler(
    WorkbenchMixin, WebSocketMixin, WebSocketHandler, JupyterHandler
):
    """A websocket that accepts the same credentials as the REST handlers."""

    #: The authorizer action for this socket ("execute" or "read").
    auth_action = "execute"

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        user = self.kernel_key_user()
        if user is None:
            await super().prepare(*args, **kwargs)
            return
        if not self.check_host():
            raise web.HTTPError(403)
        self.current_user = self._jupyter_current_user = user

    async def check_upgrade(self) -> None:
        """Refuse a foreign origin, a missing user or a denied authorizer.

        Raises
        ------
        tornado.web.HTTPError
            403, before any state is looked up or the upgrade happens.
        """
        origin = self.request.headers.get("Origin")
        if origin is not None and not self.check_origin(origin):
            raise web.HTTPError(403, reason="Cross-origin websocket refused")
        if not self.current_user:
            raise web.HTTPError(403, reason="Not authenticated")
        allowed = await ensure_async(
            self.authorizer.is_authorized(
                self, self.current_user, self.auth_action, self.auth_resource
            )
        )
        if not allowed:
            raise web.HTTPError(403, reason="Not authorized")
