"""Textual's footer, rebuilt only when the keys it shows change.

The stock footer throws its key widgets away and makes new ones whenever the screen says its
bindings may have changed: on every focus change, every keystroke in some inputs and every
`refresh_bindings()`. Each rebuild restyles a dozen widgets and leaves them as cyclic garbage for
the collector; while a run is drawn that cost the interface tens of milliseconds at a time.
This footer compares what it would show with what it shows and keeps its widgets when they are
the same. It looks and behaves exactly like the stock one."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    _shown: tuple[Any, ...] | None = None

    def _keys_shown(self) -> tuple[Any, ...]:
        """Everything of the screen's active bindings that the footer draws."""
        app = self.app
        keys: list[Any] = []
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show:
                group = binding.group.description if binding.group is not None else None
                keys.append((binding.key, app.get_key_display(binding), binding.description,
                             binding.action, enabled, tooltip, group))
        if self.show_command_palette and app.ENABLE_COMMAND_PALETTE:
            keys.append(("palette", app.COMMAND_PALETTE_BINDING))
        return tuple(keys)

    def bindings_changed(self, screen: Screen) -> None:
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            shown = self._keys_shown()
            if self._bindings_ready and shown == self._shown:
                return  # the same keys (or a rebuild to them is already on its way)
            self._shown = shown
        super().bindings_changed(screen)

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._shown = self._keys_shown()
        yield from super().compose()
