"""The Convolution page's figures: an image or a feature map with a highlighted window, and the numbers
of one position's arithmetic as small annotated heatmaps."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from ..plots import figure_layout

__all__ = ["map_figure", "numbers_figure"]

HIGHLIGHT = "#ffb000"


def _box(rows: Sequence[int], cols: Sequence[int]) -> dict:
    """A rectangle over the cells from rows[0]..rows[-1], cols[0]..cols[-1] (cell centres at integers)."""
    return dict(
        type="rect",
        x0=cols[0] - 0.5,
        x1=cols[-1] + 0.5,
        y0=rows[0] - 0.5,
        y1=rows[-1] + 0.5,
        line=dict(color=HIGHLIGHT, width=3),
        fillcolor="rgba(0,0,0,0)",
    )


def map_figure(
    x: torch.Tensor,
    title: str,
    *,
    signed: bool = False,
    box: tuple | None = None,
    dots: tuple | None = None,
    height: int = 340,
) -> go.Figure:
    """(C, H, W) in [0, 1] as an image (RGB) or a grey heatmap; ``signed``: a feature map whose values may
    be negative, on a red-blue scale centred at 0; one with no negative value (a blur's) is an image again,
    on the grey scale. ``box``: (rows, cols) to outline; ``dots``: (rows, cols) of the sampled pixels (a
    dilated kernel samples with gaps)."""
    a = x.detach().cpu().float().numpy()
    h, w = a.shape[-2:]
    layout = figure_layout(
        title,
        height,
        xaxis=dict(showgrid=False, zeroline=False, range=[-0.5, w - 0.5]),
        yaxis=dict(range=[h - 0.5, -0.5], scaleanchor="x", showgrid=False, zeroline=False),
    )
    if a.shape[0] == 3 and not signed:
        trace = go.Image(z=(np.clip(a.transpose(1, 2, 0), 0, 1) * 255).astype(np.uint8), hoverinfo="x+y")
    else:
        z = a[0] if a.ndim == 3 else a
        if signed and float(z.min()) >= 0:  # nothing negative: a blurred (or brightened) image, drawn as one
            trace = go.Heatmap(
                z=z,
                colorscale="gray",
                zmin=0,
                zmax=max(1.0, float(z.max())),
                hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>",
            )
        elif signed:
            m = float(np.abs(z).max()) or 1.0
            trace = go.Heatmap(
                z=z,
                colorscale="RdBu_r",
                zmid=0,
                zmin=-m,
                zmax=m,
                hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>",
            )
        else:
            trace = go.Heatmap(
                z=z, colorscale="gray", zmin=0, zmax=1, hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>"
            )
    fig = go.Figure(trace, layout=layout)
    if box is not None:
        fig.add_shape(**_box(*box))
    if dots is not None:
        rows, cols = dots
        yy, xx = np.meshgrid(rows, cols, indexing="ij")
        fig.add_trace(
            go.Scatter(
                x=xx.ravel(),
                y=yy.ravel(),
                mode="markers",
                hoverinfo="skip",
                showlegend=False,
                marker=dict(size=5, color=HIGHLIGHT),
            )
        )
    return fig


def numbers_figure(m: torch.Tensor, title: str, signed: bool = True, height: int = 220) -> go.Figure:
    """A small k x k matrix with its numbers written in the cells."""
    z = m.detach().cpu().float().numpy()
    text = [[f"{v:.2f}" for v in row] for row in z]
    mx = float(np.abs(z).max()) or 1.0
    trace = go.Heatmap(
        z=z,
        text=text,
        texttemplate="%{text}",
        colorscale="RdBu_r" if signed else "gray",
        zmid=0 if signed else None,
        zmin=-mx if signed else 0,
        zmax=mx if signed else 1,
        showscale=False,
        hoverinfo="skip",
    )
    layout = figure_layout(
        title,
        height,
        margin=dict(l=5, r=5, t=30, b=5),
        xaxis=dict(showticklabels=False, showgrid=False),
        yaxis=dict(autorange="reversed", showticklabels=False, showgrid=False, scaleanchor="x"),
    )
    return go.Figure(trace, layout=layout)
