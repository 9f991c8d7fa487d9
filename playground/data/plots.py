"""Plotly figures for the Data page that are about one data set's images (the shared ones, class
counts and pixel histograms, are in ``playground.plots``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from ..plots import figure_layout

__all__ = ["WINDOW_COLOURS", "COLOUR_NAMES", "conv_windows_figure"]

# One colour per example window; COLOUR_NAMES: the same colours as Streamlit's markdown names them.
WINDOW_COLOURS = ["#ff2b2b", "#ffa421", "#21c354", "#1c83e1", "#803df5"]
COLOUR_NAMES = ["red", "orange", "green", "blue", "violet"]


def conv_windows_figure(view: dict[str, Any], title: str, height: int = 420) -> go.Figure:
    """``explore.conv_windows``: the (padded) image with its example windows outlined, one colour each,
    and the original image's border dashed when there is padding."""
    img = view["image"]
    rgb = np.repeat(img[:, :, None], 3, 2) if img.ndim == 2 else img
    k, p = view["kernel"], view["padding"]
    shapes = []
    for i, e in enumerate(view["examples"]):
        shapes.append(
            dict(
                type="rect",
                x0=e["left"] - 0.5,
                y0=e["top"] - 0.5,
                x1=e["left"] + k - 0.5,
                y1=e["top"] + k - 0.5,
                line=dict(color=WINDOW_COLOURS[i % len(WINDOW_COLOURS)], width=3),
            )
        )
    if p:
        h, w = view["size"]
        shapes.append(
            dict(
                type="rect",
                x0=p - 0.5,
                y0=p - 0.5,
                x1=p + w - 0.5,
                y1=p + h - 0.5,
                line=dict(color="#999999", width=1, dash="dash"),
            )
        )
    layout = figure_layout(
        title,
        height,
        shapes=shapes,
        xaxis=dict(visible=False, constrain="domain"),
        yaxis=dict(visible=False, autorange="reversed", scaleanchor="x", constrain="domain"),
    )
    return go.Figure(go.Image(z=rgb, hovertemplate="row %{y}, column %{x}<extra></extra>"), layout=layout)
