"""The footer keeps its key widgets while the keys stay the same; the collector's pause."""

from __future__ import annotations

import gc

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from uiwait import settle

from emx2tui.ui import collector
from emx2tui.ui.widgets.footer import Footer


class KeysScreen(Screen[None]):
    BINDINGS = [Binding("x", "cancel_run", "Cancel run"), Binding("escape", "close", "Close")]

    def __init__(self) -> None:
        super().__init__()
        self.running = True

    def compose(self) -> ComposeResult:
        yield Static("body")
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_run":
            return self.running or None  # None: shown, greyed out
        if action == "close":
            return not self.running or None
        return True

    def action_cancel_run(self) -> None:
        pass

    def action_close(self) -> None:
        pass


class Host(App[None]):
    def on_mount(self) -> None:
        self.push_screen(KeysScreen())


def keys(screen: Screen) -> dict[str, FooterKey]:
    return {k.action: k for k in screen.query(FooterKey).results(FooterKey)}


async def test_footer_keeps_its_keys_until_they_change() -> None:
    app = Host()
    async with app.run_test(size=(80, 12)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, KeysScreen)
        first = keys(screen)
        assert set(first) >= {"cancel_run", "close"}
        assert not first["cancel_run"].has_class("-disabled") and first["close"].has_class("-disabled")

        # told that the bindings may have changed, with the same keys: the same widgets
        for _ in range(3):
            screen.refresh_bindings()
            await settle(pilot)
        same = keys(screen)
        assert all(same[a] is first[a] for a in first)

        # a key's state changes: the footer is rebuilt and shows it
        screen.running = False
        screen.refresh_bindings()
        await settle(pilot)
        after = keys(screen)
        assert after["cancel_run"] is not first["cancel_run"]
        assert after["cancel_run"].has_class("-disabled") and not after["close"].has_class("-disabled")


def test_collector_pause_keeps_young_passes_and_resume_restores_steady_ones() -> None:
    before = gc.get_threshold()
    was_enabled = gc.isenabled()
    try:
        gc.set_threshold(*collector.STEADY)
        collector.pause()
        collector.pause()
        assert gc.isenabled()
        assert gc.get_threshold() == collector.YOUNG_ONLY
        frozen = gc.get_freeze_count()
        kept = [[i] for i in range(1000)]  # tracked objects alive across the resume
        collector.resume()
        assert gc.get_threshold() == collector.YOUNG_ONLY  # one pause is still held
        collector.resume()
        assert gc.get_threshold() == collector.STEADY
        assert gc.get_freeze_count() >= frozen + len(kept)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        if not was_enabled:
            gc.disable()
