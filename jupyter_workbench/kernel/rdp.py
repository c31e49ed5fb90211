"""Remote desktops in a notebook: the desktop page of the server in a widget.

The kernel asks its Jupyter server for a desktop session (the credentials
go to the server only) and shows the server's desktop page, addressed by
its path, in an iframe. The browser that shows the notebook must reach the
same server, which is the case for JupyterLab and Notebook; a notebook
shown elsewhere (an exported HTML file, another server) cannot show it.
"""

from __future__ import annotations

import html
from typing import Any

from ..gateway.rdp import RDPNotSupported
from .backends import Backend, RestBackend


async def create_desktop(
    backend: Backend,
    name: str,
    *,
    username: str,
    password: str,
    domain: str = "",
    width: int = 1024,
    height: int = 768,
) -> dict[str, Any]:
    """Ask the server for a desktop session on *name*; returns the page to show.

    Raises
    ------
    RDPNotSupported
        When the client runs the gateway in-process: there is no server to
        serve the desktop page or the tunnel.
    WorkbenchError
        The server's refusals: unknown or non-RDP instance, network rules,
        policies.
    """
    if not isinstance(backend, RestBackend):
        raise RDPNotSupported(
            "A remote desktop needs the Jupyter server: this Workbench runs its "
            "gateway in-process. Run the notebook in JupyterLab with the workbench "
            "extension, or pass Workbench(url=..., token=...)"
        )
    body = {
        "instance": name,
        "username": username,
        "password": password,
        "domain": domain,
        "width": width,
        "height": height,
    }
    answer: dict[str, Any] = await backend._call("POST", "rdp", body)
    return answer


def desktop_widget(answer: dict[str, Any], *, width: int, height: int) -> Any:
    """Return an ipywidgets HTML widget that shows the desktop of *answer*."""
    import ipywidgets

    url = answer["url"] if answer.get("mode") == "webapp" else answer["page"]
    frame = (
        f'<iframe src="{html.escape(url)}" width="{int(width)}" '
        f'height="{int(height)}" allow="clipboard-read; clipboard-write" '
        f'title="{html.escape(answer.get("instance", ""))} desktop" '
        'style="border: 0; display: block"></iframe>'
    )
    widget = ipywidgets.HTML(value=frame)
    widget.add_class("jp-workbench-desktop-widget")
    return widget
