"""Plotly figures for "Inside the network": data in (numpy / dicts from ``playground.inside``),
``go.Figure`` out. Same style as ``plots``: figures built from dicts in one go, many small maps
tiled into one heatmap (NaN gaps) rather than dozens of subplots, so a layer costs one trace. The figures of
weights and gradients over training and of the initialisation lab are in ``dynamics_plots``."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

from ..plots import axis, downsample, figure_layout

__all__ = [
    "filter_figure",
    "feature_maps",
    "thumbnail",
    "vector_figure",
    "overlay",
    "probabilities",
    "param_counts",
    "invariance_figure",
    "compare_curves",
    "clickable_confusion",
    "tile_maps",
    "PALETTE",
]

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
_IMG_AXES = dict(
    xaxis=dict(visible=False, constrain="domain"),
    yaxis=dict(visible=False, autorange="reversed", scaleanchor="x", constrain="domain"),
)


def filter_figure(grid: dict[str, Any], title: str, height: int = 420) -> go.Figure:
    """``filter_grid`` / ``kernels_of`` output: RGB tiles, or signed kernels on a blue-white-red scale
    from -range to +range (the layer's range over the whole run when the grid was built with one)."""
    if grid["rgb"] is not None:
        tr = go.Image(z=grid["rgb"], hoverinfo="skip")
    else:
        r = grid["range"] or 1.0
        who = grid.get("who")
        extra = (
            dict(hovertemplate="weight %{z:.3f}<extra></extra>")
            if who is None
            else dict(
                customdata=who,
                hovertemplate=f"{grid.get('who_label', 'tile')} %{{customdata}}<br>weight %{{z:.3f}}<extra></extra>",
            )
        )
        tr = go.Heatmap(
            z=grid["z"],
            colorscale="RdBu_r",
            zmid=0,
            zmin=-r,
            zmax=r,
            hoverongaps=False,
            colorbar=dict(thickness=12),
            **extra,
        )
    return go.Figure(tr, layout=figure_layout(title, height, **_IMG_AXES))


def tile_maps(
    maps: np.ndarray, scale: str = "map", vmax: float | None = None, max_maps: int = 64
) -> tuple[np.ndarray, int, float]:
    """(C, H, W) maps -> one (rows*(H+1)-1, cols*(W+1)-1) array with NaN gaps, scaled:
    ``map`` each map to its own max |value| (-1..1), ``layer``/``global`` by ``vmax`` (or the layer's)."""
    c, h, w = maps.shape
    shown = min(c, max_maps)
    m = maps[:shown].astype(np.float32)
    if scale == "map":
        m = m / np.maximum(np.abs(m).reshape(shown, -1).max(1), 1e-12)[:, None, None]
        top = 1.0
    else:
        top = float(vmax if vmax is not None else np.abs(m).max()) or 1.0
    cols = min(shown, max(1, int(math.ceil(math.sqrt(shown * h / w * 1.6)))))
    rows = math.ceil(shown / cols)
    z = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan, dtype=np.float32)
    for i in range(shown):
        r, q = divmod(i, cols)
        z[r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = m[i]
    return z, shown, top


def feature_maps(
    maps: np.ndarray, title: str, scale: str = "map", vmax: float | None = None, max_maps: int = 64, height: int = 360
) -> go.Figure:
    z, shown, top = tile_maps(maps, scale, vmax, max_maps)
    signed = bool(np.nanmin(z) < 0)
    heat = go.Heatmap(
        z=z,
        colorscale="RdBu_r" if signed else "Viridis",
        zmid=0 if signed else None,
        zmin=-top if signed else 0,
        zmax=top,
        hoverongaps=False,
        colorbar=dict(thickness=10),
        hovertemplate="%{z:.3f}<extra></extra>",
    )
    sub = f" (first {shown} of {maps.shape[0]})" if shown < maps.shape[0] else ""
    return go.Figure(heat, layout=figure_layout(title + sub, height, **_IMG_AXES))


def thumbnail(values: np.ndarray, title: str, height: int = 190) -> go.Figure:
    """One small picture standing for a layer in the overview: a (H, W) map (blue-white-red when it
    has negative values, else Viridis) or an (N,) vector as bars; no colour bar, no axes."""
    if values.ndim == 2:
        top = float(np.abs(values).max()) or 1.0
        signed = bool(values.min() < 0)
        tr = go.Heatmap(
            z=values,
            colorscale="RdBu_r" if signed else "Viridis",
            zmin=-top if signed else 0,
            zmax=top,
            showscale=False,
            hovertemplate="%{z:.3f}<extra></extra>",
        )
        layout = figure_layout(title, height, **_IMG_AXES)
    else:
        v = values[:256]
        tr = go.Bar(
            y=v,
            marker_color=np.where(v >= 0, "#d62728", "#1f77b4").tolist(),
            hovertemplate="unit %{x}: %{y:.3f}<extra></extra>",
        )
        layout = figure_layout(title, height, xaxis=dict(visible=False), yaxis=dict(visible=False), bargap=0)
    layout.update(margin=dict(l=4, r=4, t=34, b=4), title=dict(text=title, font=dict(size=12)))
    return go.Figure(tr, layout=layout)


def vector_figure(vec: np.ndarray, title: str, classes: Sequence[str] | None = None) -> go.Figure:
    """A layer without spatial maps (flatten, linear): its values as bars (class names for the output)."""
    x = list(classes) if classes is not None and len(classes) == len(vec) else list(range(len(vec)))
    return go.Figure(
        go.Bar(x=x, y=vec, marker_color=np.where(vec >= 0, "#d62728", "#1f77b4").tolist()),
        layout=figure_layout(
            title, 220, xaxis=axis("class" if x and isinstance(x[0], str) else "unit"), yaxis=axis("value")
        ),
    )


def overlay(image: np.ndarray, heat: np.ndarray, title: str, opacity: float = 0.55, height: int = 320) -> go.Figure:
    """An input image (H, W) or (H, W, 3) uint8 under a [0, 1] heat map (saliency, Grad-CAM)."""
    rgb = np.repeat(image[:, :, None], 3, 2) if image.ndim == 2 else image
    return go.Figure(
        [
            go.Image(z=rgb, hoverinfo="skip"),
            go.Heatmap(
                z=heat,
                colorscale="Jet",
                opacity=opacity,
                zmin=0,
                zmax=1,
                showscale=True,
                colorbar=dict(thickness=10),
                hovertemplate="%{z:.2f}<extra></extra>",
            ),
        ],
        layout=figure_layout(title, height, **_IMG_AXES),
    )


def probabilities(probs: np.ndarray, classes: Sequence[str], highlight: int | None = None) -> go.Figure:
    colours = ["#d62728" if i == highlight else "#1f77b4" for i in range(len(classes))]
    return go.Figure(
        go.Bar(x=list(classes), y=probs, marker_color=colours),
        layout=figure_layout("predicted probabilities", 240, yaxis=axis("probability", range=[0, 1])),
    )


def param_counts(tables: dict[str, dict[str, Any]]) -> go.Figure:
    """Per model: parameters as built, and what its layers would cost without weight sharing / fully connected."""
    names = list(tables)
    cols = (
        ("params", "as built (shared kernels)"),
        ("locally_connected", "locally connected, no sharing"),
        ("fully_connected", "fully connected"),
    )
    traces = [
        go.Bar(x=names, y=[sum(r[k] for r in tables[n]["rows"]) for n in names], name=label, marker_color=PALETTE[i])
        for i, (k, label) in enumerate(cols)
    ]
    return go.Figure(
        traces,
        layout=figure_layout(
            "parameters", 320, barmode="group", yaxis=axis("parameters (log scale)", type="log", exponentformat="power")
        ),
    )


def invariance_figure(inv: dict[str, Any]) -> go.Figure:
    traces = []
    for i, lab in enumerate(inv["labels"]):
        c = PALETTE[i % len(PALETTE)]
        traces.append(
            go.Scatter(
                x=inv["shifts"],
                y=inv["shift_acc"][lab],
                name=lab,
                legendgroup=lab,
                mode="lines+markers",
                line=dict(color=c),
            )
        )
        traces.append(
            go.Scatter(
                x=inv["angles"],
                y=inv["rotation_acc"][lab],
                name=lab,
                legendgroup=lab,
                showlegend=False,
                mode="lines+markers",
                line=dict(color=c),
                xaxis="x2",
                yaxis="y2",
            )
        )
    layout = figure_layout(
        f"test accuracy on moved images ({inv['images']} test images)",
        360,
        xaxis=axis("shift (pixels)", domain=[0, 0.45]),
        yaxis=axis("accuracy", range=[0, 1.02]),
        xaxis2=axis("rotation (degrees)", domain=[0.55, 1], anchor="y2"),
        yaxis2=axis("accuracy", anchor="x2", range=[0, 1.02]),
    )
    return go.Figure(traces, layout=layout)


def compare_curves(runs: dict[str, dict[str, Any]]) -> go.Figure:
    """Several runs overlaid: train loss per step (left), test accuracy per epoch (right)."""
    traces = []
    for i, (name, snap) in enumerate(runs.items()):
        c = PALETTE[i % len(PALETTE)]
        steps, epochs = snap["steps"], snap["epochs"]
        if steps["step"]:
            x, y = downsample(steps["step"], steps["loss"])
            traces.append(go.Scatter(x=x, y=y, name=name, legendgroup=name, line=dict(color=c)))
        if epochs:
            traces.append(
                go.Scatter(
                    x=[e["step"] for e in epochs],
                    y=[e.get("test_acc") for e in epochs],
                    name=name,
                    legendgroup=name,
                    showlegend=not steps["step"],
                    mode="lines+markers",
                    line=dict(color=c),
                    xaxis="x2",
                    yaxis="y2",
                )
            )
    layout = figure_layout(
        None,
        380,
        xaxis=axis("step", domain=[0, 0.45]),
        yaxis=axis("train loss"),
        xaxis2=axis("step", domain=[0.55, 1], anchor="y2"),
        yaxis2=axis("test accuracy", anchor="x2", range=[0, 1.02]),
        legend=dict(orientation="h", y=-0.3),
    )
    return go.Figure(traces, layout=layout)


def clickable_confusion(matrix: Sequence[Sequence[int]], classes: Sequence[str], title: str) -> go.Figure:
    """A confusion matrix whose cells can be clicked: plotly heatmaps send no click selections, so an
    invisible marker sits on every off-diagonal cell (customdata: true, predicted class index)."""
    m = np.asarray(matrix)
    k = len(classes)
    heat = go.Heatmap(
        z=m, x=list(classes), y=list(classes), colorscale="Blues", text=m, texttemplate="%{text}", hoverinfo="skip"
    )
    cells = [(t, p) for t in range(k) for p in range(k) if t != p and m[t, p] > 0]
    dots = go.Scatter(
        x=[classes[p] for _, p in cells],
        y=[classes[t] for t, _ in cells],
        mode="markers",
        marker=dict(size=max(8, 300 // max(k, 1)), color="rgba(0,0,0,0)", symbol="square"),
        customdata=[[t, p] for t, p in cells],
        showlegend=False,
        hovertemplate="true %{y}<br>predicted %{x}<br>click to see them<extra></extra>",
    )
    return go.Figure(
        [heat, dots],
        layout=figure_layout(
            title,
            440,
            xaxis=axis("predicted class"),
            yaxis=axis("true class", autorange="reversed"),
            clickmode="event+select",
            dragmode=False,
        ),
    )
