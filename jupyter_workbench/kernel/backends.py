"""The two ways a `Workbench` reaches a gateway: the server's REST API, or in-process.

Both speak the same small async interface with plain JSON-like data, and
raise the same `WorkbenchError` subclasses, so the client above them does
not care which one it has.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from ..gateway import errors
from ..gateway.audit import Origin
from ..gateway.connect import LoginChallenge
from ..gateway.credentials import Credentials
from ..gateway.gateway import Gateway, GatewayConfig
from ..gateway.inventory import Inventory, load_file, load_ssh_config
from ..gateway.pool import Login
from ..gateway.system import errors as system_errors
from ..gateway.targets import TargetError
from .system import local_call, rest_request

_ERRORS: dict[str, type[errors.WorkbenchError]] = {
    "not_found": errors.InstanceNotFound,
    "inventory_error": errors.InventoryError,
    "network_refused": errors.NetworkRefused,
    "unreachable": errors.Unreachable,
    "host_key": errors.HostKeyError,
    "host_key_unknown": errors.HostKeyUnknown,
    "host_key_changed": errors.HostKeyChanged,
    "auth_failed": errors.AuthenticationFailed,
    "not_logged_in": errors.NotLoggedIn,
    "ssh_error": errors.SSHError,
    "bad_targets": TargetError,
    "remote_path": errors.RemotePathError,
    "remote_not_found": errors.RemoteNotFound,
    "remote_permission_denied": errors.RemotePermissionDenied,
    "remote_exists": errors.RemoteExists,
    "remote_no_space": errors.RemoteNoSpace,
    "checksum_mismatch": errors.ChecksumMismatch,
    "system_input": system_errors.SystemInputError,
    "sudo_required": system_errors.SudoRequired,
    "sudo_denied": system_errors.SudoDenied,
    "tool_missing": system_errors.ToolMissing,
    "system_command_failed": system_errors.SystemCommandFailed,
    "policy_denied": errors.PolicyDenied,
    "policy_invalid": errors.PolicyInvalid,
    "admin_required": errors.AdminRequired,
}


class Backend(Protocol):
    """What the client needs from a gateway, in JSON-like data."""

    description: str

    async def instances(self) -> list[dict[str, Any]]: ...
    async def login(self, name: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def respond(
        self, name: str, challenge: str, responses: list[str]
    ) -> dict[str, Any]: ...
    async def accept_host_key(self, name: str, fingerprint: str) -> dict[str, Any]: ...
    async def logout(self, name: str) -> None: ...
    async def diagnose(self, name: str) -> dict[str, Any]: ...
    async def system(self, name: str, op: str, args: dict[str, Any]) -> Any: ...
    async def explain(
        self, action: str, name: str, user: str | None
    ) -> dict[str, Any]: ...
    async def recordings(self) -> list[dict[str, Any]]: ...
    async def recording(self, recording_id: str) -> str: ...
    async def close(self) -> None: ...


class RestBackend:
    """Talks to the Jupyter server that started this kernel (or any given one).

    Parameters
    ----------
    url
        The server's URL including its base URL.
    key
        The server's kernel key (``JUPYTER_WORKBENCH_KEY``), or None.
    token
        A Jupyter token, used when there is no kernel key.
    """

    def __init__(
        self, url: str, *, key: str | None = None, token: str | None = None
    ) -> None:
        self.url = url.rstrip("/") + "/workbench/api/v1/"
        self.description = f"server at {url}"
        if key:
            self._auth = f"workbench-key {key}"
        elif token:
            self._auth = f"token {token}"
        else:
            self._auth = ""
        self._http = AsyncHTTPClient(force_instance=True)

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {
            "Authorization": self._auth,
            "Content-Type": "application/json",
            **origin_headers(),
        }
        payload = None if body is None else json.dumps(body)
        if method in ("POST", "PUT") and payload is None:
            payload = "{}"
        request = HTTPRequest(
            self.url + path,
            method=method,
            headers=headers,
            body=payload,
            request_timeout=300,
        )
        try:
            response = await self._http.fetch(request)
        except HTTPClientError as exc:
            raise _error_from(exc) from None
        except OSError as exc:
            raise errors.WorkbenchError(
                f"Cannot reach the Jupyter server at {self.url} ({exc})"
            ) from None
        return json.loads(response.body) if response.body else None

    async def instances(self) -> list[dict[str, Any]]:
        data = await self._call("GET", "instances")
        return list(data["instances"])

    async def login(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"instances/{quote(name)}/login", body
        )
        return result

    async def respond(
        self, name: str, challenge: str, responses: list[str]
    ) -> dict[str, Any]:
        path = f"instances/{quote(name)}/login/{challenge}"
        result: dict[str, Any] = await self._call(
            "POST", path, {"responses": responses}
        )
        return result

    async def accept_host_key(self, name: str, fingerprint: str) -> dict[str, Any]:
        path = f"instances/{quote(name)}/hostkey"
        result: dict[str, Any] = await self._call(
            "POST", path, {"fingerprint": fingerprint}
        )
        return result

    async def logout(self, name: str) -> None:
        await self._call("DELETE", f"instances/{quote(name)}/login")

    async def diagnose(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "GET", f"instances/{quote(name)}/diagnose"
        )
        return result

    async def system(self, name: str, op: str, args: dict[str, Any]) -> Any:
        method, path, body = rest_request(name, op, args)
        return await self._call(method, path, body)

    async def explain(self, action: str, name: str, user: str | None) -> dict[str, Any]:
        query = urlencode({"action": action, "instance": name, "user": user or ""})
        result: dict[str, Any] = await self._call("GET", f"policy/explain?{query}")
        return result

    async def recordings(self) -> list[dict[str, Any]]:
        data = await self._call("GET", "recordings")
        return list(data["recordings"])

    async def recording(self, recording_id: str) -> str:
        data = await self._call("GET", f"recordings/{quote(recording_id)}?format=json")
        return str(data["cast"])

    async def close(self) -> None:
        self._http.close()


class LocalBackend:
    """Runs a gateway inside this process, for scripts and headless runs."""

    def __init__(self, gateway: Gateway, principal: str | None = None) -> None:
        self.gateway = gateway
        self.principal = principal or getpass.getuser()
        self.description = "in-process gateway"

    @classmethod
    def create(cls, inventory: str | Path | None = None, **config: Any) -> LocalBackend:
        """Build a gateway from an inventory file and ``~/.ssh/config``.

        Raises
        ------
        WorkbenchError
            When *config* names a setting that `GatewayConfig` does not have.
        """
        known = {f.name for f in dataclasses.fields(GatewayConfig)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise errors.WorkbenchError(
                f"Unknown Workbench setting {', '.join(unknown)}: give the inventory "
                f"file as inventory=..., or one of {', '.join(sorted(known))}"
            )
        found = Inventory()
        if inventory is not None:
            for instance in load_file(inventory):
                found.add(instance)
        for instance in load_ssh_config():
            found.add(instance)
        data_dir = Path(config.pop("data_dir", _default_data_dir()))
        return cls(Gateway(found, GatewayConfig(data_dir=data_dir, **config)))

    async def instances(self) -> list[dict[str, Any]]:
        return self.gateway.instances(self.principal)

    async def login(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        credentials = Credentials(**body) if body.get("username") else None
        return self._outcome(
            await self.gateway.login(self.principal, name, credentials)
        )

    async def respond(
        self, name: str, challenge: str, responses: list[str]
    ) -> dict[str, Any]:
        return self._outcome(
            await self.gateway.respond(self.principal, challenge, responses)
        )

    async def accept_host_key(self, name: str, fingerprint: str) -> dict[str, Any]:
        trusted_for = self.gateway.accept_host_key(self.principal, name, fingerprint)
        return {"trusted": fingerprint, "instance": trusted_for}

    async def logout(self, name: str) -> None:
        await self.gateway.logout(self.principal, name)

    async def diagnose(self, name: str) -> dict[str, Any]:
        return (await self.gateway.diagnose(self.principal, name)).to_dict()

    async def system(self, name: str, op: str, args: dict[str, Any]) -> Any:
        if op == "sudo_password":
            self.gateway.set_sudo_password(self.principal, name, args["password"])
            return None
        return await local_call(self.gateway.system(self.principal, name), op, args)

    async def explain(self, action: str, name: str, user: str | None) -> dict[str, Any]:
        user = user or self.principal
        decision = self.gateway.explain(user, action, name)
        return {**decision.to_dict(), "user": user, "instance": name}

    async def recordings(self) -> list[dict[str, Any]]:
        return self.gateway.access.recordings.list(self.principal)

    async def recording(self, recording_id: str) -> str:
        path = self.gateway.access.recordings.path(self.principal, recording_id)
        return path.read_text(encoding="utf-8")

    async def close(self) -> None:
        await self.gateway.close()

    def _outcome(self, outcome: Login | LoginChallenge) -> dict[str, Any]:
        if isinstance(outcome, LoginChallenge):
            return outcome.to_dict()
        listed = {i["name"]: i for i in self.gateway.instances(self.principal)}
        return {"status": "connected", "instance": listed[outcome.instance.name]}


def origin_headers() -> dict[str, str]:
    """Name the notebook and cell making this call, for the server's audit log.

    Jupyter starts kernels with ``JPY_SESSION_NAME`` (the notebook path);
    IPython counts executions. Both are informational: the server records
    them next to the authenticated user, it does not trust them.
    """
    notebook, cell = _notebook_and_cell()
    headers = {}
    if notebook:
        headers["X-Workbench-Notebook"] = quote(notebook)
    if cell is not None:
        headers["X-Workbench-Cell"] = cell
    return headers


def in_process_origin(backend: object) -> Origin | None:
    """Return the audit origin of a call to an in-process gateway, else None.

    What `origin_headers` tells the server, an in-process gateway learns
    from this: the notebook and cell, with ``in-process`` as the client.
    """
    if not isinstance(backend, LocalBackend):
        return None
    notebook, cell = _notebook_and_cell()
    return Origin(client="in-process", notebook=notebook, cell=cell)


def _notebook_and_cell() -> tuple[str | None, str | None]:
    try:
        from IPython.core.getipython import get_ipython

        shell = get_ipython()  # type: ignore[no-untyped-call]
    except ImportError:
        shell = None
    cell = str(shell.execution_count) if shell is not None else None
    return os.environ.get("JPY_SESSION_NAME") or None, cell


def _error_from(exc: HTTPClientError) -> errors.WorkbenchError:
    body = exc.response.body if exc.response is not None else b""
    try:
        data = json.loads(body)
        kind = _ERRORS.get(data["error"], errors.WorkbenchError)
        return kind(data["message"], **data.get("details", {}))
    except (ValueError, KeyError, TypeError):
        if exc.code == 403:
            return errors.WorkbenchError(
                "The Jupyter server refused the request (403): the kernel's "
                "JUPYTER_WORKBENCH_KEY does not match the running server"
            )
        return errors.WorkbenchError(
            f"The Jupyter server answered {exc.code}: {exc.message}"
        )


def _default_data_dir() -> str:
    from jupyter_core.paths import jupyter_data_dir

    return os.path.join(jupyter_data_dir(), "workbench")
