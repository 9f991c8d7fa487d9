"""Plotly figures of how a network's weights and gradients start and change: weight histograms and norms
over training (the Weights & gradients tab), and the initialisation lab's one-batch statistics and race.
Same style as ``plots``: data in (dicts from ``playground.train.snapshots`` and ``playground.inside``),
``go.Figure`` out."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

from ..plots import axis, downsample, figure_layout
from .plots import PALETTE

__all__ = ["rebin_histogram", "weight_histograms", "grad_norms", "init_stats_figure", "race_figure", "spread_figure"]


def rebin_histogram(counts: Sequence[float], lo: float, hi: float, edges: np.ndarray) -> np.ndarray:
    """A histogram of ``len(counts)`` equal bins over [lo, hi] moved onto the bins ``edges`` (which cover
    [lo, hi]), each source bin's count spread evenly over its width and shared by overlap. Counts are
    conserved, and target bins narrower than the source ones all get their share (placing each source
    bin's centre in one target bin leaves every other fine bin empty: the black stripes)."""
    c = np.asarray(counts, dtype=float)
    out = np.zeros(len(edges) - 1)
    if not len(c):
        return out
    if not hi > lo:  # every weight equal (a constant initialisation): one point
        j = int(np.clip(np.searchsorted(edges, lo, side="right") - 1, 0, len(out) - 1))
        out[j] = c.sum()
        return out
    src = np.linspace(lo, hi, len(c) + 1)
    overlap = np.minimum(src[1:, None], edges[None, 1:]) - np.maximum(src[:-1, None], edges[None, :-1])
    return c @ (np.clip(overlap, 0, None) / (src[1] - src[0]))


def weight_histograms(series: dict[str, list], title: str, bins: int = 40) -> go.Figure:
    """A layer's weight histograms over training (TensorBoard's histogram view, as a heatmap):
    x = step, y = weight value, colour = how many weights (log scale). Each step's histogram has its
    own range (lo..hi); they are rebinned by overlap onto one value axis (``rebin_histogram``), and
    the values outside a step's range are left blank."""
    ok = [i for i, (a, b) in enumerate(zip(series["lo"], series["hi"])) if a is not None and b is not None]
    keep = [ok[i] for i in np.unique(np.linspace(0, len(ok) - 1, min(len(ok), 300)).round().astype(int))] if ok else []
    lo = min((series["lo"][i] for i in keep), default=0.0)
    hi = max((series["hi"][i] for i in keep), default=1.0)
    hi = hi if hi > lo else lo + 1e-6
    edges = np.linspace(lo, hi, bins + 1)
    z = np.full((bins, len(keep)), np.nan)
    for j, i in enumerate(keep):
        a, b = series["lo"][i], series["hi"][i]
        col = rebin_histogram(series["hist"][i], a, b, edges)
        inside = (edges[1:] > a) & (edges[:-1] < b) | (col > 0)  # the rows this step's weights span
        z[inside, j] = col[inside]
    heat = go.Heatmap(
        x=[series["step"][i] for i in keep],
        y=(edges[:-1] + edges[1:]) / 2,
        z=np.log1p(z),
        customdata=z,
        colorscale="Viridis",
        hoverongaps=False,
        colorbar=dict(title=dict(text="log(1+n)"), thickness=10),
        hovertemplate="step %{x}<br>weight %{y:.3f}<br>about %{customdata:.0f} weights<extra></extra>",
    )
    return go.Figure(heat, layout=figure_layout(title, 320, xaxis=axis("step"), yaxis=axis("weight value")))


def grad_norms(
    stats: dict[str, Any],
    key: str = "g_norm",
    title: str = "gradient norm per layer",
    names: dict[str, str] | None = None,
) -> go.Figure:
    """One line per layer (``names``: readable legend names, e.g. ``forward.layer_names``)."""
    traces = []
    names = names or {}
    for i, name in enumerate(stats["layers"]):
        s = stats["series"][name]
        pts = [(x, y) for x, y in zip(s["step"], s[key]) if y is not None and y > 0]
        if not pts:
            continue
        x, y = downsample([p[0] for p in pts], [p[1] for p in pts])
        traces.append(go.Scatter(x=x, y=y, name=names.get(name, name), line=dict(color=PALETTE[i % len(PALETTE)])))
    return go.Figure(
        traces,
        layout=figure_layout(
            title, 320, xaxis=axis("step"), yaxis=axis("L2 norm (log scale)", type="log", exponentformat="power")
        ),
    )


def init_stats_figure(stats: dict[str, Any]) -> go.Figure:
    """Three panels, one line per initialisation: output mean, output std, gradient std per layer."""
    panels = (
        ("act_mean", "output mean", None),
        ("act_std", "output std", "log"),
        ("grad_std", "gradient std (d loss / d output)", "log"),
    )
    traces, layout = [], figure_layout(None, 360)
    gap, width = 0.06, (1 - 0.12) / 3
    for p, (key, label, scale) in enumerate(panels):
        sx = "" if p == 0 else str(p + 1)
        for i, (name, s) in enumerate(stats.items()):
            y = [v if scale != "log" or v > 0 else None for v in s[key]]
            traces.append(
                go.Scatter(
                    x=s["layers"],
                    y=y,
                    name=name,
                    mode="lines+markers",
                    legendgroup=name,
                    showlegend=p == 0,
                    line=dict(color=PALETTE[i % len(PALETTE)]),
                    xaxis=f"x{sx}",
                    yaxis=f"y{sx}",
                )
            )
        layout[f"xaxis{sx}"] = dict(
            domain=[p * (width + gap), p * (width + gap) + width], tickangle=-40, anchor=f"y{sx}"
        )
        layout[f"yaxis{sx}"] = dict(
            title=dict(text=label), anchor=f"x{sx}", **({"type": "log", "exponentformat": "power"} if scale else {})
        )
    return go.Figure(traces, layout=layout)


def race_figure(race: dict[str, Any]) -> go.Figure:
    traces = [
        go.Scatter(x=r["step"], y=r["loss"], name=name, line=dict(color=PALETTE[i % len(PALETTE)]))
        for i, (name, r) in enumerate(race.items())
    ]
    return go.Figure(
        traces, layout=figure_layout("training loss, same seed and data", 320, xaxis=axis("step"), yaxis=axis("loss"))
    )


def spread_figure(race: dict[str, Any]) -> go.Figure:
    """Per initialisation and hidden layer: how different the layer's units are at the end of the race."""
    traces = []
    for i, (name, r) in enumerate(race.items()):
        layers = list(r["spread"])[:-1]  # the output layer's rows always differ (one per class)
        traces.append(
            go.Bar(
                x=layers,
                y=[max(r["spread"][n], 1e-9) for n in layers],
                name=name,
                marker_color=PALETTE[i % len(PALETTE)],
            )
        )
    return go.Figure(
        traces,
        layout=figure_layout(
            "difference between units of a hidden layer after the race",
            300,
            barmode="group",
            yaxis=axis("max |unit - mean unit| (log)", type="log", exponentformat="power"),
        ),
    )
