"""REST side of remote desktops: create a desktop session, serve the client page.

``POST rdp`` takes the Windows credentials and keeps them in the server;
the answer holds only a single-use session id and the page to show (or,
in the Guacamole web app mode, the app's URL with its sign-in token).
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..gateway.guacamole import Display
from ..gateway.guacamole_json import (
    auth_document,
    client_url,
    obtain_token,
    parse_secret,
    sign_and_encrypt,
)
from ..gateway.network import resolve_checked
from ..gateway.rdp import RDPService
from .base import WorkbenchHandler, WorkbenchMixin

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
PAGE = "workbench/static/rdp.html"
_TIMEZONE_RE = re.compile(r"^[A-Za-z0-9_+/-]{1,64}$")
_LIMITS = {"width": (64, 8192), "height": (64, 8192), "dpi": (48, 480)}


class RDPSessionsHandler(WorkbenchHandler):
    """Create a remote desktop session; the credentials stay in the server."""

    @property
    def rdp(self) -> RDPService:
        service: RDPService = self.settings["workbench_rdp"]
        return service

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        name = _string(body, "instance", required=True)
        username = _string(body, "username")
        password = _string(body, "password")
        domain = _string(body, "domain")
        default = Display()
        display = Display(
            width=_number(body, "width", default.width),
            height=_number(body, "height", default.height),
            dpi=_number(body, "dpi", default.dpi),
        )

        request = await self.rdp.create(
            self.principal,
            name,
            username=username,
            password=password,
            domain=domain,
            display=display,
        )
        webapp = self.settings.get("workbench_guacamole_url")
        if webapp:
            url = await self._webapp_url(webapp, request.id)
            self.reply({"mode": "webapp", "url": url, **request.to_dict()}, 201)
            return

        page = url_path_join(self.base_url, PAGE) + f"?session={request.id}"
        tunnel = url_path_join(
            self.base_url, "workbench/api/v1/rdp", request.id, "tunnel"
        )
        self.reply(
            {"mode": "guacd", "page": page, "tunnel": tunnel, **request.to_dict()}, 201
        )

    async def _webapp_url(self, webapp: str, session_id: str) -> str:
        # The web app's own guacd connects, so hand it the checked address
        # as this server would; the claimed request is not used further.
        request = self.rdp.claim(self.principal, session_id)
        instance = request.instance
        address, _rule = await resolve_checked(
            instance.host, instance.port, self.rdp.rules
        )
        key = parse_secret(self.settings.get("workbench_guacamole_json_secret", ""))
        document = auth_document(
            self.principal,
            instance.name,
            self.rdp.parameters(request, str(address), request.display),
        )
        token = await obtain_token(webapp, sign_and_encrypt(document, key))
        self.rdp.handed_over(request, webapp)
        return client_url(webapp, instance.name, token)


class StaticPageHandler(WorkbenchMixin, JupyterHandler):
    """Serve the remote desktop page and its scripts, to authenticated users only.

    Tornado's StaticFileHandler would serve them to anybody; these pages
    open desktops, so they sit behind Jupyter auth like the API.
    """

    def get_login_url(self) -> str:
        # Answer 403 like the API rather than redirect a frame to the login page.
        raise web.HTTPError(403)

    @property
    def content_security_policy(self) -> str:
        return "; ".join(
            [
                super().content_security_policy,
                "default-src 'self'",
                "script-src 'self'",
                "style-src 'self'",
                "img-src 'self' data: blob:",
                "media-src 'self' data: blob:",
                "connect-src 'self' ws: wss:",
                "object-src 'none'",
                "base-uri 'none'",
            ]
        )

    @web.authenticated
    @authorized
    async def get(self, path: str) -> None:
        target = (STATIC_DIR / path).resolve()
        if STATIC_DIR not in target.parents or not target.is_file():
            raise web.HTTPError(404)
        kind, _ = mimetypes.guess_type(target.name)
        if target.suffix == ".js":
            kind = "text/javascript"
        self.set_header("Content-Type", f"{kind or 'application/octet-stream'}")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(target.read_bytes())


def _string(body: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = body.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise web.HTTPError(400, reason=f"'{key}' must be a string")
    if required and not value:
        raise web.HTTPError(400, reason=f"'{key}' is required")
    return value


def _number(body: dict[str, Any], key: str, default: int) -> int:
    value = body.get(key)
    if value is None:
        return default
    low, high = _LIMITS[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not low <= value <= high
    ):
        raise web.HTTPError(
            400, reason=f"'{key}' must be a whole number from {low} to {high}"
        )
    return value


def display_from_query(handler: Any, default: Display) -> Display:
    """Return *default* with what the page measured: width, height, dpi, timezone."""
    values: dict[str, int] = {}
    for key, (low, high) in _LIMITS.items():
        text = handler.get_query_argument(key, "")
        if text.isdigit() and low <= int(text) <= high:
            values[key] = int(text)
    timezone = handler.get_query_argument("timezone", "")
    if not _TIMEZONE_RE.match(timezone):
        timezone = default.timezone
    return Display(
        width=values.get("width", default.width),
        height=values.get("height", default.height),
        dpi=values.get("dpi", default.dpi),
        audio=default.audio,
        video=default.video,
        image=default.image,
        timezone=timezone,
    )
