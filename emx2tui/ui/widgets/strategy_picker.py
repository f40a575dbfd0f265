"""The job strategies, each with its title, flow and description."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from emx2tui.ui.text import FLOW_NAMES, FLOW_STEPS, attr


def _option_prompt(strategy: Any) -> Text:
    text = Text()
    text.append(str(attr(strategy, "title") or strategy.name), style="bold")
    flow = attr(strategy, "flow", "?")
    text.append(f"\nFlow {flow} · {strategy.name}", style="dim")
    return text


def _model(spec: Any) -> str:
    if spec is None:
        return "any model"
    describe = getattr(spec, "describe", None)
    return str(describe() if callable(describe) else spec)


class StrategyPicker(Horizontal):
    """An option list of strategies and, beside it, what the highlighted one does."""

    class Chosen(Message):
        def __init__(self, strategy: Any) -> None:
            super().__init__()
            self.strategy = strategy

    def __init__(self, strategies: list[Any], *, initial: str | None = None,
                 id: str | None = "strategy-picker") -> None:
        super().__init__(id=id)
        self.strategies = {s.name: s for s in strategies}
        self.initial = initial
        self.border_title = "Job strategy"

    def compose(self) -> ComposeResult:
        options = [Option(_option_prompt(s), id=s.name) for s in self.strategies.values()]
        yield OptionList(*options, id="strategies")
        with Vertical(id="strategy-details"):
            yield Static("", id="strategy-description")
            with Horizontal(id="resource-row"):
                yield Label("Resource id", id="resource-label")
                yield Input(placeholder="blank: read it from the source schema",
                            id="resource-id")
                yield Button("Preview ▶", id="preview-button", variant="primary",
                             tooltip="Plan the job and show what will change (p)")

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        if not self.strategies:
            self.query_one("#strategy-description", Static).update(
                "No job strategies were found.")
            return
        names = list(self.strategies)
        index = names.index(self.initial) if self.initial in self.strategies else 0
        option_list.highlighted = index

    @property
    def strategy(self) -> Any | None:
        option_list = self.query_one(OptionList)
        if option_list.highlighted is None:
            return None
        option = option_list.get_option_at_index(option_list.highlighted)
        return self.strategies.get(option.id or "")

    @property
    def resource_id(self) -> str | None:
        value = self.query_one("#resource-id", Input).value.strip()
        return value or None

    def select(self, name: str) -> None:
        names = list(self.strategies)
        if name in self.strategies:
            self.query_one(OptionList).highlighted = names.index(name)

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        strategy = self.strategies.get(event.option.id or "")
        if strategy is None:
            return
        self.query_one("#strategy-description", Static).update(self._describe(strategy))
        self.post_message(self.Chosen(strategy))

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()

    @staticmethod
    def _describe(strategy: Any) -> Text:
        flow = attr(strategy, "flow", "?")
        text = Text()
        text.append(str(attr(strategy, "title") or strategy.name), style="bold")
        text.append(f"   {strategy.name}\n", style="dim")
        text.append(FLOW_NAMES.get(flow, f"Flow {flow}"), style="bold")
        source_model = attr(strategy, "source_model")
        target_model = attr(strategy, "target_model")
        text.append("\n")
        if source_model or target_model:
            text.append(f"{_model(source_model)} → {_model(target_model)}\n", style="italic")
        description = str(attr(strategy, "description") or "").strip()
        if description:
            text.append(description + "\n")
        steps = attr(strategy, "steps") or FLOW_STEPS.get(flow, [])
        if steps:
            text.append("steps: ", style="dim")
            text.append(" → ".join(str(s) for s in steps), style="dim")
        return text
