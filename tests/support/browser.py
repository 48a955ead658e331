"""A report opened from a file in headless Chromium, with what it tried to do recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class Watched:
    """A page opened from a file, with every console error, dialog and request recorded."""

    def __init__(self, browser: Any, html: Path, javascript: bool = True) -> None:
        self.context = browser.new_context(java_script_enabled=javascript)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", self._dialog)
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.context.route("**/*", self._route)
        self.url = html.as_uri()
        self.page.goto(self.url)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _route(self, route: Any) -> None:
        if route.request.url == self.url:
            route.continue_()
        else:
            route.abort()

    @property
    def outside(self) -> list[str]:
        """Requests for anything but the report itself."""
        return [url for url in self.requests if url != self.url]

    def rows(self) -> int:
        """Evidence cards shown."""
        return int(self.page.locator("#cards > li").count())

    def status(self) -> str:
        return str(self.page.text_content("#cards-status"))

    def close(self) -> None:
        self.context.close()
