"""The "Numbers" page of a business (owners only): a period, four charts, the money tables,
and the period's bookings as CSV (owners only too: it holds every customer's name and number).

Charts are drawn on the server with pygal as SVG documents, each from its own route and shown
with ``<img>``: the page's CSP allows no inline script or style, and an SVG loaded as an image
keeps its own styles and runs no script (``js=[]`` anyway). Every figure comes from
``booking.dashboard`` for the signed-in business; nothing but the dates is read from the URL.
"""
from __future__ import annotations

import logging
import math
import re
from datetime import date
from typing import Any, Callable
from urllib.parse import urlencode

import pygal
from pygal.etree import etree
from pygal.style import Style
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from booking import dashboard as numbers
from booking.catalog import Catalog
from booking.errors import ValidationError
from booking.feedback import Feedback
from booking.models import (CANCELLED, COMPLETED, CONFIRMED, EXPIRED, NO_SHOW, PENDING_PAYMENT,
                            Business)
from booking.receipt import rupiah
from console.web import (actor, blocking, catalog, not_found, owners_only, render, services,
                         session_of)

logger = logging.getLogger(__name__)

SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"
INK, LINE, BRAND, RED, AMBER, SLATE = ("#1f2933", "#e5e7eb", "#0f766e", "#b91c1c", "#d97706",
                                       "#475569")
STATUS_COLOURS = ((COMPLETED, SLATE), (CONFIRMED, BRAND), (PENDING_PAYMENT, AMBER),
                  (NO_SHOW, RED), (CANCELLED, "#9ca3af"), (EXPIRED, "#d6d3d1"))
CSS = ["file://style.css", "file://graph.css",  # pygal's own, then the console's look
       "inline:.axis .guide.line,.axis .major.guide.line{stroke:#e5e7eb!important;"
       "stroke-dasharray:none!important}.reactive{stroke-opacity:1!important}"
       ".axis text,.axis text.major{fill:#475569!important}.legends text{fill:#1f2933}"]
BAR_CSS = "inline:.serie-{i} .line{{stroke-width:{w}px!important;stroke-linecap:butt}}"
CHART_WIDTH, CHART_HEIGHT, FUNNEL_HEIGHT = 640, 320, 290
TABLE_ROWS = 100  # payments listed on the page (the CSV has every booking)


def utilisation_height(staff: int) -> int:
    """The height of the utilisation chart for ``staff`` rows."""
    return max(150, 50 + 46 * staff)


def _style(colours: tuple[str, ...]) -> Style:
    return Style(background="#ffffff", plot_background="#ffffff", foreground=INK,
                 foreground_strong=INK, foreground_subtle=LINE, opacity="1",
                 opacity_hover=".85", transition="none", colors=colours,
                 font_family='system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
                 label_font_size=13, major_label_font_size=13, legend_font_size=13,
                 value_font_size=13, title_font_size=15, tooltip_font_size=13,
                 no_data_font_size=16)


def _config(colours: tuple[str, ...], **options: Any) -> dict[str, Any]:
    """What every chart shares: no script, the XML declaration, the console's look."""
    return {"style": _style(colours), "js": [], "disable_xml_declaration": False, "css": CSS,
            "width": CHART_WIDTH, "height": CHART_HEIGHT, "margin": 10,
            "legend_at_bottom": True, "legend_box_size": 11,
            "show_x_guides": False, "truncate_legend": -1, "truncate_label": -1,
            "no_data_text": "Nothing in this period", **options}


def _svg(chart: Any) -> bytes:
    """The chart as an SVG document without pygal's configuration ``<script>`` (written even
    with ``js=[]``; an image never runs it, but nothing is better)."""
    root = chart.render_tree()
    for parent in list(root.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _day_labels(days: list[date]) -> dict[str, Any]:
    labels = [f"{d.day} {d:%b}" for d in days]
    every = max(1, math.ceil(len(days) / 9))
    return {"x_labels": labels, "x_labels_major": labels[::every],
            "show_minor_x_labels": every == 1}


def _legend_columns(series: int) -> int:
    """Legend columns at the bottom; a divisor of the series count, as pygal reserves
    ``series // columns`` rows."""
    return series if series <= 5 else 3


def _whole_steps(top: float, steps: int = 5) -> list[int]:
    """Axis labels for counts: whole numbers from 0 past ``top``."""
    step = max(1, math.ceil(top / steps))
    return list(range(0, int(top) + step + 1, step)) if top else [0, 1]


def _money_steps(top: int, steps: int = 4) -> list[int]:
    """Axis labels for rupiah: round amounts from 0 past ``top``."""
    if not top:
        return [0]
    raw = top / steps
    unit = 10 ** int(math.log10(raw))
    step = next(m * unit for m in (1, 2, 2.5, 5, 10) if m * unit >= raw)
    return [int(i * step) for i in range(math.ceil(top / step) + 1)]


def bookings_chart(db: Any, snapshot: Catalog, business: Business,
                   period: numbers.Period) -> bytes:
    """Bookings per day, stacked by status."""
    per_day = numbers.bookings_per_day(db, business, period)
    shown = [(s, c) for s, c in STATUS_COLOURS if s in per_day]
    top = max((sum(day) for day in zip(*per_day.values())), default=0)
    chart = pygal.StackedBar(**_config(tuple(c for _, c in shown), **_day_labels(period.days),
                                       value_formatter=lambda v: f"{v:g}",
                                       y_labels=_whole_steps(top) if shown else None,
                                       legend_at_bottom_columns=_legend_columns(len(shown))))
    for status, _ in shown:
        chart.add(status.replace("_", " ").lower(), per_day[status])
    return _svg(chart)


def revenue_chart(db: Any, snapshot: Catalog, business: Business,
                  period: numbers.Period) -> bytes:
    """Revenue per day, stacked by who receives it."""
    money = numbers.revenue(db, snapshot, business, period)
    days = period.days
    top = max((money.by_day[d].amount for d in days), default=0)
    chart = pygal.StackedBar(**_config((BRAND, "#5eead4", SLATE), **_day_labels(days),
                                       value_formatter=lambda v: rupiah(int(round(v))),
                                       y_labels=_money_steps(top),
                                       legend_at_bottom_columns=3))
    for title, part in (("Vendor", "vendor"), ("Villa", "villa"), ("Platform", "platform")):
        chart.add(f"{title} {rupiah(getattr(money.total, part))}",
                  [getattr(money.by_day[d], part) or None for d in days])
    return _svg(chart)


def utilisation_chart(db: Any, snapshot: Catalog, business: Business,
                      period: numbers.Period) -> bytes:
    """Booked share of each staff member's working time."""
    rows = numbers.utilisation(db, snapshot, business, period)[::-1]  # first name on top
    chart = pygal.HorizontalBar(**_config((BRAND,), show_legend=False, range=(0, 100),
                                          y_labels=[0, 25, 50, 75, 100], margin_right=28,
                                          value_formatter=lambda v: f"{v:.1f} %",
                                          height=utilisation_height(len(rows))))
    chart.x_labels = [f"{r.name}  " + ("not working" if r.fraction is None else
                                       f"{r.fraction * 100:.1f} %") for r in rows]
    chart.add("Booked", [None if r.fraction is None else {
        "value": round(r.fraction * 100, 1),
        "label": f"{r.booked_minutes} of {r.working_minutes} working minutes"} for r in rows])
    return _svg(chart)


def _metric_text(metric: numbers.Metric) -> tuple[str, str]:
    """The value and the target, as written on the funnel chart."""
    if metric.unit == "seconds":
        value = "no data" if metric.value is None else f"{metric.value:.1f} s"
        target = f"{metric.target:g} s"
    else:
        value = "no data" if metric.value is None else f"{metric.value:.1%}"
        target = f"{metric.target:.0%}"
    return value, ("> " if metric.above else "< ") + target


def funnel_chart(db: Any, snapshot: Catalog, business: Business,
                 period: numbers.Period) -> bytes:
    """A bullet chart: per funnel metric (one row each, on its own scale) a bar for the value,
    teal when it meets its target and red when not, and a black tick at the target."""
    metrics = numbers.funnel_metrics(numbers.funnel_of(db, business, period))
    rows = len(metrics)
    track: list[Any] = []
    bars: dict[bool, list[Any]] = {True: [], False: []}
    ticks: list[Any] = []
    labels = []
    for i, metric in enumerate(metrics):
        y = rows - i
        value, target = _metric_text(metric)
        labels.append({"label": f"{metric.label}: {value} (target {target})", "value": y})
        # scale of the row: 0-100 % above a target, else a few times the target
        scale = 1.0 if metric.above else max(metric.target * 4, (metric.value or 0) * 1.1)
        track += [(0, y), (1, y), (None, None)]
        ticks += [(metric.target / scale, y - .3), (metric.target / scale, y + .3),
                  (None, None)]
        if metric.value is not None:
            bars[bool(metric.met)] += [(0, y), (min(metric.value / scale, 1), y), (None, None)]
    css = CSS + [BAR_CSS.format(i=0, w=24), BAR_CSS.format(i=1, w=12),
                 BAR_CSS.format(i=2, w=12), BAR_CSS.format(i=3, w=3)]
    chart = pygal.XY(**_config(("#e9edf2", BRAND, RED, INK), show_legend=False, css=css,
                               show_dots=False, allow_interruptions=True, xrange=(0, 1),
                               range=(.4, rows + .6), y_labels=labels, show_x_labels=False,
                               show_y_guides=False, height=FUNNEL_HEIGHT,
                               value_formatter=lambda v: "", x_value_formatter=lambda v: ""))
    chart.add("Scale", track)
    chart.add("Meets its target", bars[True] or [(None, None)])
    chart.add("Misses its target", bars[False] or [(None, None)])
    chart.add("Target", ticks)
    return _svg(chart)


CHARTS: dict[str, Callable[..., bytes]] = {
    "bookings": bookings_chart, "revenue": revenue_chart, "utilisation": utilisation_chart,
    "funnel": funnel_chart}


def _period(request: Request, business: Business) -> numbers.Period:
    """The period of the URL (``ValidationError`` when reversed or too long)."""
    today = services(request).clock().astimezone(business.tz).date()
    return numbers.parse_period(request.args.get("from"), request.args.get("to"), today)


def _scores(db: Any, snapshot: Catalog, business: Business,
            period: numbers.Period) -> dict[str, list[dict[str, Any]]]:
    """Customers' scores of the period per service and per staff member, with their names."""
    since, until = period.bounds(business)
    summary = Feedback(db, lambda: since).summary(business.id, since, until)
    names = {"service": {s.id: s.name for s in snapshot.services.values()},
             "staff": {m.id: m.name for m in snapshot.staff.values()}}
    return {group: [{**row, "name": names[group].get(row["id"], row["id"])} for row in rows]
            for group, rows in summary.items()}


def register(app: Sanic) -> None:
    """The routes of this module."""

    @app.get("/dashboard")
    @owners_only
    async def page(request: Request) -> HTTPResponse:
        snapshot = await catalog(request)
        business = snapshot.business(session_of(request).business_id)
        try:
            period = _period(request, business)
        except ValidationError as exc:
            return render(request, "dashboard.html", status=400, title="Numbers", error=str(exc),
                          asked={"from": (request.args.get("from") or "")[:10],
                                 "to": (request.args.get("to") or "")[:10]})
        db = services(request).desk.core.db
        figures = await blocking(numbers.dashboard, db, snapshot, business.id, period)
        scores = await blocking(_scores, db, snapshot, business, period)
        query = urlencode({"from": period.first.isoformat(), "to": period.last.isoformat()})
        return render(request, "dashboard.html", title="Numbers", numbers=figures, scores=scores,
                      period=period, query=query, limit=TABLE_ROWS,
                      sizes={"width": CHART_WIDTH, "bookings": CHART_HEIGHT,
                             "revenue": CHART_HEIGHT, "funnel": FUNNEL_HEIGHT,
                             "utilisation": utilisation_height(len(figures.utilisation))},
                      asked={"from": period.first.isoformat(), "to": period.last.isoformat()})

    @app.get("/dashboard/charts/<name>")
    @owners_only
    async def chart(request: Request, name: str) -> HTTPResponse:
        draw = CHARTS.get(name[:-4]) if name.endswith(".svg") else None
        if draw is None:
            return not_found(request)
        snapshot = await catalog(request)
        business = snapshot.business(session_of(request).business_id)
        try:
            period = _period(request, business)
        except ValidationError as exc:
            return response.text(str(exc), status=400)
        svg = await blocking(draw, services(request).desk.core.db, snapshot, business, period)
        return HTTPResponse(svg, content_type="image/svg+xml",
                            headers={"content-security-policy": SVG_CSP})

    @app.get("/export/bookings.csv")
    @owners_only
    async def export(request: Request) -> HTTPResponse:
        svc = services(request)
        snapshot = await catalog(request)
        business = snapshot.business(session_of(request).business_id)
        try:
            period = _period(request, business)
        except ValidationError as exc:
            return response.text(str(exc), status=400)
        text = await blocking(numbers.bookings_csv, svc.desk.core.db, snapshot, business.id,
                              period)
        await blocking(svc.audit.record, business.id, actor(request), "bookings.export",
                       f"{period.first}..{period.last}", None, None, svc.clock())
        name = re.sub(r"[^A-Za-z0-9_-]", "-", business.id)
        return response.text(text, content_type="text/csv; charset=utf-8", headers={
            "content-disposition":
                f'attachment; filename="bookings-{name}-{period.first}-{period.last}.csv"'})
