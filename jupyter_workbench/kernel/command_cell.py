"""A command cell: an ipywidgets form that runs a command on picked hosts.

``wb.command_cell()`` shows a host picker (or a target selection such as
``web-*``), a command box, Run and Cancel, and a table of per-host status
with each host's output underneath. The run follows its events on the
client's own loop thread, so the kernel stays free: Cancel works while the
run goes on, in JupyterLab and in Notebook 7 alike (plain ipywidgets, no
frontend extension).
"""

from __future__ import annotations

import threading
from html import escape
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..gateway.errors import WorkbenchError
from .runs import Event, RunResult, run_body, transport_for

if TYPE_CHECKING:
    from .client import Workbench

_COLOURS = {
    "ok": "var(--jp-success-color1, green)",
    "failed": "var(--jp-error-color1, red)",
    "error": "var(--jp-error-color1, red)",
    "cancelled": "var(--jp-warn-color1, orange)",
    "skipped": "var(--jp-warn-color1, orange)",
}


class CommandCell(w.VBox):  # type: ignore[misc]
    """Pick hosts, type a command, run and cancel, see each host's result.

    Attributes
    ----------
    result
        The `RunResult` of the latest finished run, or None.
    finished
        Set when the latest run has ended (for scripts and tests).
    """

    def __init__(self, wb: Workbench, *, targets: str = "", command: str = "") -> None:
        self._wb = wb
        names = [i.name for i in wb.instances() if i.protocol == "ssh"]
        self.hosts = w.SelectMultiple(options=names, description="Hosts", rows=6)
        self.targets = w.Text(
            value=targets,
            description="or targets",
            placeholder="web-*, env=prod, @group, all",
        )
        self.command = w.Textarea(
            value=command, description="Command", placeholder="uname -r"
        )
        self.run_button = w.Button(description="Run", button_style="primary")
        self.cancel_button = w.Button(description="Cancel", disabled=True)
        self.status = w.HTML()
        self.outputs = w.Accordion()
        self.result: RunResult | None = None
        self.finished = threading.Event()
        self._run_id: str | None = None
        self._states: dict[str, dict[str, Any]] = {}
        self._text: dict[str, list[str]] = {}
        self.run_button.on_click(lambda _b: self.run())
        self.cancel_button.on_click(lambda _b: self.cancel())
        super().__init__(
            [
                w.HBox([self.hosts, self.targets]),
                self.command,
                w.HBox([self.run_button, self.cancel_button]),
                self.status,
                self.outputs,
            ]
        )

    def selection(self) -> str:
        """Return the targets: the text box if filled, else the picked hosts."""
        return self.targets.value.strip() or ",".join(self.hosts.value)

    def run(self) -> None:
        """Start the command on the selection; returns at once."""
        if not self.selection() or not self.command.value.strip():
            self._say("Pick hosts (or type targets) and a command first.")
            return
        transport = transport_for(self._wb.backend)
        body = run_body(self.selection(), self.command.value)
        try:
            started = self._wb._call(transport.start(body))
        except WorkbenchError as exc:
            self._say(exc.message)
            return
        self._run_id = started["id"]
        self.finished.clear()
        self._states, self._text = {}, {}
        self.outputs.children = ()
        self.run_button.disabled, self.cancel_button.disabled = True, False
        self._wb._submit(self._follow(transport, started["id"]))

    def cancel(self) -> None:
        """Cancel the running command on every host."""
        if self._run_id is None:
            return
        self.cancel_button.disabled = True
        self._wb._submit(transport_for(self._wb.backend).cancel(self._run_id))

    async def _follow(self, transport: Any, run_id: str) -> None:
        try:
            await transport.events(run_id, self._on_event)
            self.result = RunResult.from_dict(await transport.get(run_id))
            self._render(final=True)
        except WorkbenchError as exc:
            self._say(exc.message)
        finally:
            self.run_button.disabled, self.cancel_button.disabled = False, True
            self.finished.set()

    def _on_event(self, event: Event) -> None:
        if event["type"] == "host":
            self._states[event["host"]] = event
            self._text.setdefault(event["host"], [])
            self._render()
        elif event["type"] == "output":
            self._text.setdefault(event["host"], []).append(event["data"])

    def _render(self, *, final: bool = False) -> None:
        rows = []
        for host, state in self._states.items():
            colour = _COLOURS.get(state["state"], "inherit")
            exit_text = state.get("exit_signal") or state.get("exit_status")
            error = (state.get("error") or {}).get("message", "")
            rows.append(
                f"<tr><td>{escape(host)}</td>"
                f"<td style='color:{colour}'>{escape(state['state'])}</td>"
                f"<td>{escape('' if exit_text is None else str(exit_text))}</td>"
                f"<td>{escape(error)}</td></tr>"
            )
        self.status.value = (
            "<table><thead><tr><th>host</th><th>state</th><th>exit</th>"
            f"<th>error</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
        if final and self.result is not None:
            self._show_outputs(self.result)

    def _show_outputs(self, result: RunResult) -> None:
        panes = []
        for outcome in result:
            text = outcome.stdout + (
                f"\n--- stderr ---\n{outcome.stderr}" if outcome.stderr else ""
            )
            panes.append(w.HTML(f"<pre>{escape(text)}</pre>"))
        self.outputs.children = panes
        for index, outcome in enumerate(result):
            self.outputs.set_title(index, f"{outcome.host}: {outcome.state}")

    def _say(self, message: str) -> None:
        self.status.value = f"<p>{escape(message)}</p>"


__all__ = ["CommandCell"]
