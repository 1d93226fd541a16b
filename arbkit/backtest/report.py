"""Policy comparison over seeds and a self-contained HTML report."""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from arbkit.backtest.analytics import drawdown_series
from arbkit.backtest.engine import BacktestResult
from arbkit.io import write_atomic

__all__ = ["comparison_markdown", "comparison_table", "write_report"]

_HEADLINE = (
    ("net_profit", "net profit (quote)"),
    ("arbitrage_net_profit", "of which arbitrage"),
    ("sharpe", "Sharpe (ann.)"),
    ("win_rate", "win rate"),
    ("trade_count", "trades"),
    ("revert_rate", "revert rate"),
    ("max_drawdown", "max drawdown"),
    ("gas_share_of_profit", "gas / gross profit"),
)


def comparison_table(results: Mapping[str, Sequence[BacktestResult]]) -> pl.DataFrame:
    """Return mean and standard deviation over seeds of the headline metrics per policy.

    Parameters
    ----------
    results
        Policy name -> one result per seed (same seeds and histories for every policy).
    """
    rows: list[dict[str, Any]] = []
    for name, runs in results.items():
        row: dict[str, Any] = {"policy": name, "seeds": len(runs)}
        for key, _ in _HEADLINE:
            vals = np.array(
                [math.nan if r[key] is None else float(r[key]) for r in runs], dtype=np.float64
            )
            vals = vals[np.isfinite(vals)]
            row[f"{key}_mean"] = float(vals.mean()) if vals.size else float("nan")
            row[f"{key}_std"] = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
        rows.append(row)
    return pl.DataFrame(rows)


def comparison_markdown(results: Mapping[str, Sequence[BacktestResult]]) -> str:
    """Return the comparison (mean ± std over seeds) as a markdown table."""
    table = comparison_table(results)
    head = "| policy | seeds | " + " | ".join(h for _, h in _HEADLINE) + " |"
    rule = "|---|---:|" + "---:|" * len(_HEADLINE)
    lines = [head, rule]
    for rec in table.iter_rows(named=True):
        cells = " | ".join(
            f"{_fmt(rec[f'{k}_mean'], k)} ± {_fmt(rec[f'{k}_std'], k)}"
            if math.isfinite(rec[f"{k}_mean"])
            else "n/a"
            for k, _ in _HEADLINE
        )
        lines.append(f"| {rec['policy']} | {rec['seeds']} | {cells} |")
    return "\n".join(lines) + "\n"


def _fmt(x: float, key: str) -> str:
    if not math.isfinite(x):
        return "n/a"
    if key in ("win_rate", "revert_rate", "max_drawdown", "gas_share_of_profit"):
        return f"{x * 100:.2f}%"
    if key == "trade_count":
        return f"{x:,.0f}"
    return f"{x:,.2f}"


def _png(draw: Callable[[Any], None], size: tuple[float, float] = (8.0, 3.6)) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    draw(ax)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return base64.b64encode(buf.getvalue()).decode()


def write_report(
    results: Mapping[str, Sequence[BacktestResult]],
    path: str | os.PathLike[str],
    *,
    title: str = "arbkit backtest",
    description: str = "",
    calibration_png: str | os.PathLike[str] | None = None,
    extra_tables: Mapping[str, pl.DataFrame] | None = None,
) -> Path:
    """Write a self-contained HTML report (figures embedded) and return its path.

    Sections: policy comparison (mean ± std over seeds), equity curves and drawdown of
    the first seed of every policy, profit by route of the best policy, calibration
    (the decider's reliability diagram when given), and any extra tables.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    table = comparison_table(results)
    parts: list[str] = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}th:first-child,td:first-child{text-align:left}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
    ]
    if description:
        parts.append(f"<p>{html.escape(description)}</p>")
    parts.append("<h2>Policy comparison (mean ± std over seeds)</h2><table><tr><th>policy</th>")
    parts.append("<th>seeds</th>" + "".join(f"<th>{html.escape(h)}</th>" for _, h in _HEADLINE))
    parts.append("</tr>")
    for row in table.iter_rows(named=True):
        cells = "".join(
            f"<td>{_fmt(row[f'{k}_mean'], k)} ± {_fmt(row[f'{k}_std'], k)}</td>"
            for k, _ in _HEADLINE
        )
        parts.append(
            f"<tr><td>{html.escape(row['policy'])}</td><td>{row['seeds']}</td>{cells}</tr>"
        )
    parts.append("</table>")

    firsts = {name: runs[0] for name, runs in results.items() if runs}

    def equity(ax: Any) -> None:
        for name, r in firsts.items():
            eq = r.equity
            ax.plot(eq["block"].to_numpy(), eq["equity_quote"].to_numpy() - eq[0, 2], label=name)
        ax.set_xlabel("block")
        ax.set_ylabel("P&L (quote)")
        ax.legend(fontsize=8)
        ax.set_title("Equity (P&L from start), first seed")

    def drawdown(ax: Any) -> None:
        for name, r in firsts.items():
            ax.plot(r.equity["block"].to_numpy(), -drawdown_series(r.equity) * 100, label=name)
        ax.set_xlabel("block")
        ax.set_ylabel("drawdown (%)")
        ax.legend(fontsize=8)
        ax.set_title("Drawdown, first seed")

    parts.append("<h2>Equity and drawdown</h2>")
    parts.append(f"<img src='data:image/png;base64,{_png(equity)}'>")
    parts.append(f"<img src='data:image/png;base64,{_png(drawdown)}'>")

    if firsts:
        best = max(firsts, key=lambda k: float(firsts[k]["net_profit"]))
        routes = firsts[best]["profit_by_route"]
        top = sorted(routes.items(), key=lambda kv: -abs(kv[1]))[:15]

        def by_route(ax: Any) -> None:
            labels = [k if len(k) < 60 else k[:57] + "..." for k, _ in top]
            ax.barh(range(len(top)), [v for _, v in top])
            ax.set_yticks(range(len(top)))
            ax.set_yticklabels(labels, fontsize=6)
            ax.invert_yaxis()
            ax.set_xlabel("net profit (quote)")
            ax.set_title(f"Profit by route: {best}, first seed")

        parts.append("<h2>Profit by route</h2>")
        if top:
            parts.append(f"<img src='data:image/png;base64,{_png(by_route, (8.0, 4.5))}'>")
        kinds = firsts[best]["profit_by_kind"]
        parts.append(
            f"<p>Net profit by route kind: {html.escape(best)}, first seed.</p>"
            "<table><tr><th>kind</th><th>net profit</th></tr>"
        )
        parts.extend(
            f"<tr><td>{html.escape(k)}</td><td>{v:,.2f}</td></tr>" for k, v in kinds.items()
        )
        parts.append("</table>")

    parts.append("<h2>Calibration</h2>")
    calibrated = {
        name: [pair for r in runs for pair in r.extras.get("calibration", [])]
        for name, runs in results.items()
    }
    calibrated = {k: v for k, v in calibrated.items() if len(v) >= 20}
    for name, pairs in calibrated.items():
        p = np.array([a for a, _ in pairs])
        y = np.array([float(b) for _, b in pairs])
        edges = np.linspace(0.0, 1.0, 11)
        which = np.clip(np.digitize(p, edges) - 1, 0, 9)
        rows = [
            (float(p[which == k].mean()), float(y[which == k].mean()), int((which == k).sum()))
            for k in range(10)
            if (which == k).any()
        ]
        ece = sum(n * abs(a - b) for a, b, n in rows) / len(p)

        def reliability(ax: Any, rows: list[tuple[float, float, int]] = rows) -> None:
            ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect")
            ax.plot([a for a, _, _ in rows], [b for _, b, _ in rows], "o-", label="model")
            ax.set_xlabel("predicted success probability")
            ax.set_ylabel("observed success rate")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.legend(fontsize=8)
            ax.set_title("Reliability of the route-success model on the trades it took")

        parts.append(
            f"<p>{html.escape(name)}: {len(p):,} trades over all seeds, expected calibration "
            f"error {ece:.3f}, mean predicted {p.mean():.3f}, observed {y.mean():.3f}.</p>"
            f"<img src='data:image/png;base64,{_png(reliability, (5.5, 4.5))}'>"
        )
    if calibration_png is not None and Path(calibration_png).exists():
        data = base64.b64encode(Path(calibration_png).read_bytes()).decode()
        parts.append(
            "<p>Reliability diagram of the route-success model on held-out history.</p>"
            f"<img src='data:image/png;base64,{data}'>"
        )
    elif not calibrated:
        parts.append("<p>No route-success model in this comparison.</p>")
    for name, df in (extra_tables or {}).items():
        parts.append(f"<h2>{html.escape(name)}</h2><table><tr>")
        parts.append("".join(f"<th>{html.escape(c)}</th>" for c in df.columns) + "</tr>")
        for values in df.iter_rows():
            parts.append(
                "<tr>"
                + "".join(
                    f"<td>{v:,.4g}</td>"
                    if isinstance(v, float)
                    else f"<td>{html.escape(str(v))}</td>"
                    for v in values
                )
                + "</tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    write_atomic(dest, "\n".join(parts).encode("utf-8"))
    md = f"# {title}\n\n{description}\n\n" if description else f"# {title}\n\n"
    write_atomic(dest.with_suffix(".md"), (md + comparison_markdown(results)).encode("utf-8"))
    return dest
