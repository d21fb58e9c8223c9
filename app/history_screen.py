"""The history screen (``h``): what happened to the link, for how long and why, newest first.

The figures on top (uptime over the last hour, day and since the desk started, the longest outage, the mean time
to recover), the outages, then the events, filtered (all, link, books, alerts). ``e`` writes what is shown as an
owner-only CSV in the current directory and names it in a notice. Slow data: it re-reads the store every two
seconds and redraws only when a row arrived. Every string comes from the disk and is shown made printable, as
plain text.
"""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from app.history_text import event_parts, figures_lines, outage_parts
from exchange.link_figures import Figures, figures
from exchange.link_history import HistoryRow, LinkHistory
from exchange.link_report import FILTERS, matches, read_report, write_csv, write_csv_file

__all__ = ["HistoryScreen"]

SHOWN_SINCE_MS = 7 * 86_400_000
EVENTS_SHOWN = 1000
FILTER_ORDER = tuple(FILTERS)
RELOAD_S = 2.0


class HistoryScreen(ModalScreen[None]):
    """Outages and events of the link history, with the figures on top."""

    BINDINGS = [
        Binding("escape,h,q", "close", "Close"),
        Binding("a", "show('all')", "All"),
        Binding("k", "show('link')", "Link"),
        Binding("b", "show('books')", "Books"),
        Binding("t", "show('alerts')", "Alerts"),
        Binding("f", "next_filter", "Next filter"),
        Binding("e", "export", "Export CSV"),
    ]

    def __init__(
        self,
        history: LinkHistory | None,
        *,
        clock: Callable[[], float] = time.time,
        started_ms: int | None = None,
        export_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.history = history
        self.clock = clock
        self.started_ms = started_ms
        self.export_dir = export_dir
        self.filter = "all"
        self.rows: list[HistoryRow] = []
        self.summary: Figures | None = None
        self._drawn: tuple | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="history-dialog", classes="dialog"):
            yield Label("", id="history-title")
            yield Static("", id="history-figures")
            yield DataTable(id="history-outages", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="history-events", cursor_type="row", zebra_stripes=True)
            yield Label(
                "a all · k link · b books · t alerts · f next filter · e export CSV · Escape close\n"
                "duration: of the state before it (link, book), of the period (stale, alert off)",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        outages = self.query_one("#history-outages", DataTable)
        outages.add_columns("outage from (UTC)", "lasted", "attempts", "cause", "")
        events = self.query_one("#history-events", DataTable)
        events.add_columns("time (UTC)", "kind", "what", "state", "duration", "reason")
        self.set_interval(RELOAD_S, self.reload, name="history-reload")
        self.reload()
        events.focus()

    # ------------------------------------------------------------------ data

    def reload(self) -> None:
        """Re-read the store; redraw when something changed."""
        now_ms = int(self.clock() * 1000)
        if self.history is None:
            rows: list[HistoryRow] = []
            summary = figures([], [], now_ms, self.started_ms)
        else:
            try:
                rows, summary = read_report(self.history, now_ms, SHOWN_SINCE_MS, self.started_ms)
            except sqlite3.Error as error:
                self.notify(f"Link history unreadable: {error}", severity="error", timeout=8)
                return
        self.rows = rows
        self.summary = summary
        self._draw_figures()
        key = (len(rows), rows[-1] if rows else None, self.filter)
        if key != self._drawn:  # the events table keeps its cursor unless a row arrived
            self._drawn = key
            self._draw_events()

    def shown_rows(self) -> list[HistoryRow]:
        """The events under the current filter, newest first, at most :data:`EVENTS_SHOWN`."""
        return [row for row in reversed(self.rows) if matches(row, self.filter)][:EVENTS_SHOWN]

    # ------------------------------------------------------------------ drawing

    def _draw_figures(self) -> None:
        summary = self.summary
        assert summary is not None
        kept = "no link history is kept for this desk" if self.history is None else f"{len(self.rows)} events"
        self.query_one("#history-title", Label).update(
            Text(f"Link history · last 7 days · {kept} · filter: {self.filter}", style="bold")
        )
        self.query_one("#history-figures", Static).update(Text("\n".join(figures_lines(summary, "since start"))))
        outages = self.query_one("#history-outages", DataTable)
        outages.clear()
        for outage in reversed(summary.outages):
            outages.add_row(*(Text(cell) for cell in outage_parts(outage)))

    def _draw_events(self) -> None:
        events = self.query_one("#history-events", DataTable)
        events.clear()
        for row in self.shown_rows():
            events.add_row(*(Text(cell) for cell in event_parts(row)))

    # ------------------------------------------------------------------ actions

    def action_show(self, name: str) -> None:
        if name in FILTERS:
            self.filter = name
            self.reload()

    def action_next_filter(self) -> None:
        self.action_show(FILTER_ORDER[(FILTER_ORDER.index(self.filter) + 1) % len(FILTER_ORDER)])

    def action_export(self) -> Path | None:
        """Write the outages and the shown events as an owner-only CSV; the notice names the file. In a browser
        (``textual serve``) the server's disk is not the user's: the CSV is delivered as a download."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.clock()))
        name = f"fluxum-history-{stamp}.csv"
        outages = self.summary.outages if self.summary is not None else ()
        if self.app.is_web:
            text = io.StringIO(newline="")
            count = write_csv(outages, self.shown_rows(), text)
            text.seek(0)
            self.app.deliver_text(text, save_filename=name, mime_type="text/csv")
            self.notify(f"Link history sent as {name} ({count} rows)", title="Export", timeout=8)
            return None
        target = (self.export_dir or Path.cwd()) / name
        try:
            count = write_csv_file(target, outages, self.shown_rows())
        except OSError as error:
            self.notify(f"Could not write {target}: {error.strerror or error}", severity="error", timeout=10)
            return None
        self.notify(f"Link history exported to {target} ({count} rows)", title="Export", timeout=8)
        return target

    def action_close(self) -> None:
        self.dismiss(None)
