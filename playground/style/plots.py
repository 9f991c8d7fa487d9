"""The Style page's loss figure (plotly): content, style and TV loss against step."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from playground.plots import axis, downsample, figure_layout

__all__ = ["loss_figure"]


def loss_figure(curves: Mapping[str, Sequence[float]]):
    """Content, style and TV loss (weighted, as optimised) against step: three panels, log scale."""
    panels = (("content", "#1f77b4"), ("style", "#d62728"), ("tv", "#2ca02c"))
    axes: dict[str, Any]  # figure_layout's keyword arguments: one x and y axis per panel
    traces, axes = [], {}
    for i, (name, colour) in enumerate(panels):
        suffix = "" if i == 0 else str(i + 1)
        x, y = downsample(curves.get("step", []), curves.get(name, []))
        y = np.where(y > 0, y, np.nan)  # a log axis cannot show 0 (a weight of 0 switches a loss off)
        traces.append(
            go.Scatter(x=x, y=y, name=f"{name} loss", line=dict(color=colour), xaxis=f"x{suffix}", yaxis=f"y{suffix}")
        )
        lo, hi = i / 3 + (0.04 if i else 0), (i + 1) / 3 - (0.04 if i < 2 else 0)
        axes[f"xaxis{suffix}"] = axis("step", domain=[lo, hi], anchor=f"y{suffix}")
        axes[f"yaxis{suffix}"] = axis(
            f"{name} loss" if name != "tv" else "TV loss", type="log", anchor=f"x{suffix}", exponentformat="power"
        )
    notes = [
        dict(
            text="off (weight 0)",
            xref=f"x{'' if i == 0 else i + 1} domain",
            yref=f"y{'' if i == 0 else i + 1} domain",
            x=0.5,
            y=0.5,
            showarrow=False,
            font=dict(color="#888"),
        )
        for i, (name, _) in enumerate(panels)
        if curves.get(name) and not any(curves[name])
    ]
    return go.Figure(data=traces, layout=figure_layout(height=300, showlegend=False, annotations=notes, **axes))
