"""An ipywidgets file browser over `RemoteFiles`: navigate, upload, download,
rename and delete, in JupyterLab and Notebook 7 (plain ipywidgets, no
frontend extension of its own).
"""

from __future__ import annotations

import posixpath
from html import escape
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..gateway.errors import WorkbenchError
from .files import FileInfo, RemoteFiles


class FileBrowser(widgets.VBox):  # type: ignore[misc]
    """Browse one instance's files from a notebook.

    Parameters
    ----------
    files
        ``wb.files("web-1")``.
    path
        The folder to start in.
    download_dir
        Where Download saves, on the kernel's machine.
    """

    def __init__(
        self, files: RemoteFiles, path: str = ".", *, download_dir: str = "."
    ) -> None:
        self.files = files
        self.download_dir = Path(download_dir)
        self.entries: dict[str, FileInfo] = {}
        self.location = widgets.Text(
            value=path, description="Folder", continuous_update=False
        )
        self.listing = widgets.Select(options=[], rows=12, layout={"width": "100%"})
        self.new_name = widgets.Text(placeholder="new name")
        self.upload = widgets.FileUpload(multiple=True, description="Upload")
        self.status = widgets.HTML()
        buttons = {
            "Up": self.go_up,
            "Open": self.open_selected,
            "Refresh": self.refresh,
            "Download": self.download_selected,
            "Rename": self.rename_selected,
            "Delete": self.delete_selected,
        }
        row = []
        for label, action in buttons.items():
            button = widgets.Button(description=label, layout={"width": "auto"})
            button.on_click(lambda _b, act=action: self._guard(act))
            row.append(button)
        # Typing a folder and pressing Enter, or Up and Open, all go here.
        self.location.observe(lambda _c: self._guard(self.refresh), names="value")
        self.upload.observe(lambda _c: self._guard(self.upload_files), names="value")
        super().__init__(
            [
                self.location,
                self.listing,
                widgets.HBox([*row[:3], self.upload]),
                widgets.HBox([*row[3:], self.new_name]),
                self.status,
            ]
        )
        self._guard(self.refresh)

    @property
    def path(self) -> str:
        return str(self.location.value) or "."

    @property
    def selected(self) -> FileInfo | None:
        return self.entries.get(self.listing.value) if self.listing.value else None

    def refresh(self) -> None:
        """List the current folder again."""
        listed = sorted(
            self.files.list(self.path), key=lambda e: (not e.is_dir, e.name)
        )
        self.entries = {_label(e): e for e in listed}
        self.listing.options = list(self.entries)
        self._say(f"{len(listed)} entries in {self.path}")

    def go_up(self) -> None:
        self.location.value = posixpath.dirname(self.path.rstrip("/")) or "/"

    def open_selected(self) -> None:
        entry = self.selected
        if entry is None or not (entry.is_dir or entry.target_type == "directory"):
            self._say("Select a folder to open")
            return
        self.location.value = entry.path

    def download_selected(self) -> None:
        entry = self._need_selection()
        saved = self.files.download(entry.path, self.download_dir)
        self._say(f"Saved {entry.name} to {saved}")

    def rename_selected(self) -> None:
        entry = self._need_selection()
        name = str(self.new_name.value).strip()
        if not name or "/" in name:
            self._say("Type the new name (no slash) next to Rename")
            return
        self.files.rename(entry.path, posixpath.join(self.path, name))
        self.new_name.value = ""
        self.refresh()

    def delete_selected(self) -> None:
        entry = self._need_selection()
        self.files.remove(entry.path, recursive=entry.is_dir)
        self.refresh()
        self._say(f"Deleted {entry.name}")

    def upload_files(self) -> None:
        """Write every file chosen in the Upload button into the folder."""
        chosen = list(self.upload.value)
        if not chosen:
            return
        for item in chosen:
            self.files.write(
                posixpath.join(self.path, item["name"]), bytes(item["content"])
            )
        self.upload.value = ()
        self.refresh()
        self._say(f"Uploaded {', '.join(i['name'] for i in chosen)}")

    def _need_selection(self) -> FileInfo:
        entry = self.selected
        if entry is None:
            raise WorkbenchError("Select a file or folder first")
        return entry

    def _guard(self, action: Any) -> None:
        try:
            action()
        except WorkbenchError as exc:
            self._say(exc.message, error=True)

    def _say(self, text: str, *, error: bool = False) -> None:
        color = "var(--jp-error-color1, red)" if error else "inherit"
        self.status.value = f'<span style="color:{color}">{escape(text)}</span>'


def _label(entry: FileInfo) -> str:
    if entry.is_dir:
        return entry.name + "/"
    if entry.target is not None:
        return f"{entry.name} → {entry.target}"
    return entry.name
