"""The job strategies: each with its flow as a diagram, its models and versions, and whether it
fits the chosen schemas (strategies that do not fit are greyed out, with the reason)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from emx2tui.ui.text import FLOW_NAMES, attr, flow_diagram


def _model(spec: Any) -> str:
    if spec is None:
        return "any model"
    describe = getattr(spec, "describe", None)
    return str(describe() if callable(describe) else spec)


def resource_hint(strategy: Any) -> str:
    """Where a blank resource id is read from: the side the strategy's resource spec names."""
    spec = getattr(strategy, "resource", None)
    side = getattr(spec, "side", "source")
    if side == "none":
        return "not used: this job copies every row"
    table = getattr(spec, "table", None)
    where = f"the {side} schema's {table}" if table else f"the {side} schema"
    return f"blank: read it from {where}"


def fit_reason(strategy: Any, source_model: Any, target_model: Any,
               source_where: str = "source", target_where: str = "target") -> str | None:
    """None when the strategy fits both schemas (or cannot tell); else why it does not."""
    check = getattr(strategy, "check_models", None)
    if not callable(check) or source_model is None or target_model is None:
        return None
    try:
        check(source_model, target_model, source_where, target_where)
    except Exception as exc:  # StrategyError, or a model the strategy cannot read
        return str(exc) or type(exc).__name__
    return None


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
        self.unfit: dict[str, str] = {}
        self.border_title = "Job strategy"

    def compose(self) -> ComposeResult:
        options = [Option(self._option_prompt(s), id=s.name) for s in self.strategies.values()]
        yield OptionList(*options, id="strategies")
        with Vertical(id="strategy-details"):
            with VerticalScroll(id="strategy-scroll"):
                yield Static("", id="strategy-description")
            with Horizontal(id="resource-row"):
                yield Label("Cohort / network id", id="resource-label")
                yield Input(placeholder=resource_hint(self.strategies.get(self.initial or "")),
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

    # ----------------------------------------------------------------- state
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

    def set_resource_id(self, value: str | None) -> None:
        self.query_one("#resource-id", Input).value = value or ""

    def find(self, name: str) -> str | None:
        """The strategy's name for `name` in any spelling or alias; None when none has it."""
        from emx2tui.jobs.strategy import name_key

        wanted = name_key(name)
        for s in self.strategies.values():
            if wanted in {name_key(s.name), *(name_key(a) for a in getattr(s, "aliases", []))}:
                return s.name
        return None

    def select(self, name: str) -> bool:
        """Highlight strategy `name` (any spelling); False when there is no such strategy."""
        found = self.find(name)
        if found is None:
            return False
        self.query_one(OptionList).highlighted = list(self.strategies).index(found)
        return True

    def update_fit(self, source_model: Any, target_model: Any, source_where: str = "source",
                   target_where: str = "target") -> None:
        """Grey out the strategies that do not fit the chosen schemas, keeping the reason."""
        self.unfit = {}
        for s in self.strategies.values():
            reason = fit_reason(s, source_model, target_model, source_where, target_where)
            if reason:
                self.unfit[s.name] = reason
        option_list = self.query_one(OptionList)
        for s in self.strategies.values():
            option_list.replace_option_prompt(s.name, self._option_prompt(s))
        fitting = len(self.strategies) - len(self.unfit)
        self.border_title = (f"Job strategy · {fitting} of {len(self.strategies)} fit these schemas"
                             if source_model is not None and target_model is not None
                             else "Job strategy")
        current = self.strategy
        if current is not None:
            self.query_one("#strategy-description", Static).update(self._describe(current))

    def palette_entry(self, strategy: Any) -> tuple[str, str]:
        """The command palette's title and help for picking `strategy`, marked when it does
        not fit the chosen schemas."""
        title = f"Strategy: {attr(strategy, 'title') or strategy.name}"
        help_text = f"Flow {attr(strategy, 'flow', '?')} · {strategy.name}"
        reason = self.unfit.get(strategy.name)
        if reason:
            return f"✖ {title}", f"{help_text} · does not fit: {reason}"
        return title, help_text

    # -------------------------------------------------------------- rendering
    def _option_prompt(self, strategy: Any) -> Text:
        text = Text()
        flow = attr(strategy, "flow", "?")
        unfit = strategy.name in self.unfit
        text.append(str(attr(strategy, "title") or strategy.name),
                    style="dim strike" if unfit else "bold")
        text.append("\n")
        if unfit:
            text.append("✖ ", style="red")
        text.append(f"Flow {flow} · {strategy.name}", style="dim")
        return text

    def _describe(self, strategy: Any) -> Text:
        flow = attr(strategy, "flow", "?")
        text = Text()
        text.append(str(attr(strategy, "title") or strategy.name), style="bold")
        text.append(f"   {FLOW_NAMES.get(flow, f'Flow {flow}')}\n", style="dim")
        reason = self.unfit.get(strategy.name)
        if reason:
            text.append("✖ Does not fit the chosen schemas: ", style="bold red")
            text.append(reason + "\n", style="red")
        pairs = getattr(strategy, "pairs", None)
        models = []
        if callable(pairs):
            models = [f"{_model(s)} → {_model(t)}" for s, t in pairs()]
        elif attr(strategy, "source_model") or attr(strategy, "target_model"):
            models = [f"{_model(attr(strategy, 'source_model'))} → "
                      f"{_model(attr(strategy, 'target_model'))}"]
        for line in models:
            text.append("models  ", style="dim")
            text.append(line + "\n", style="italic")
        text.append_text(flow_diagram(strategy, self._diagram_width()))
        text.append("\n")
        description = str(attr(strategy, "description") or "").strip()
        if description:
            text.append(description, style="dim")
        return text

    def _diagram_width(self) -> int | None:
        """The columns the diagram may take (one spare for a scrollbar); None before layout."""
        width = self.query_one("#strategy-description", Static).size.width
        return width - 1 if width > 1 else None

    def on_resize(self) -> None:
        # The diagram is laid out for the width it has: draw it again for the new one.
        self.call_after_refresh(self._redescribe)

    def _redescribe(self) -> None:
        current = self.strategy if self.strategies else None
        if current is not None:
            self.query_one("#strategy-description", Static).update(self._describe(current))

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        strategy = self.strategies.get(event.option.id or "")
        if strategy is None:
            return
        self.query_one("#strategy-description", Static).update(self._describe(strategy))
        self.query_one("#resource-id", Input).placeholder = resource_hint(strategy)
        self.post_message(self.Chosen(strategy))

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
