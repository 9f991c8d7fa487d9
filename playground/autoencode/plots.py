"""Figures of the Autoencoders page: reconstruction curves, the latent scatter, error bars."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

from ..plots import TEST, TRAIN, axis, downsample, figure_layout

__all__ = ["reconstruction_curves", "latent_scatter", "reconstruction_errors"]


def reconstruction_curves(
    steps: dict[str, list], epochs: list[dict[str, Any]], quick: dict[str, list] | None = None
) -> go.Figure:
    """Reconstruction loss (left) and PSNR in dB (right): train per logged step, test per epoch, the
    corrupted test input's PSNR (what there was to undo) as a dotted line, and the quick test estimate on a
    fixed subset while an epoch trains (``quick``: the buffer's columns; hollow markers, dotted)."""
    traces = []
    if steps["step"]:
        x, y = downsample(steps["step"], steps["loss"])
        traces.append(go.Scatter(x=x, y=y, name="train", line=dict(color=TRAIN), legendgroup="train"))
        x, y = downsample(steps["step"], [v if v is not None else np.nan for v in steps["psnr"]])
        traces.append(
            go.Scatter(
                x=x,
                y=y,
                name="train",
                line=dict(color=TRAIN),
                legendgroup="train",
                showlegend=False,
                xaxis="x2",
                yaxis="y2",
            )
        )
    if epochs:
        ex = [e["step"] for e in epochs]
        traces.append(
            go.Scatter(
                x=ex,
                y=[e["test_loss"] for e in epochs],
                name="test",
                mode="lines+markers",
                line=dict(color=TEST),
                legendgroup="test",
            )
        )
        traces.append(
            go.Scatter(
                x=ex,
                y=[e["test_psnr"] for e in epochs],
                name="test",
                mode="lines+markers",
                line=dict(color=TEST),
                legendgroup="test",
                showlegend=False,
                xaxis="x2",
                yaxis="y2",
            )
        )
        traces.append(
            go.Scatter(
                x=ex,
                y=[e["test_psnr_input"] for e in epochs],
                name="corrupted input",
                mode="lines+markers",
                line=dict(color="#7f7f7f", dash="dot"),
                xaxis="x2",
                yaxis="y2",
            )
        )
    if quick and quick.get("step"):
        name = f"test estimate ({quick['n'][-1]:,} images)"
        style = dict(
            mode="lines+markers",
            line=dict(color=TEST, dash="dot", width=1),
            legendgroup="quick",
            marker=dict(color=TEST, symbol="circle-open", size=6),
        )
        traces.append(go.Scatter(x=quick["step"], y=quick["loss"], name=name, **style))
        traces.append(
            go.Scatter(x=quick["step"], y=quick["psnr"], name=name, showlegend=False, xaxis="x2", yaxis="y2", **style)
        )
    layout = figure_layout(
        xaxis=axis("step", domain=[0, 0.45]),
        yaxis=axis("reconstruction loss"),
        xaxis2=axis("step", domain=[0.55, 1], anchor="y2"),
        yaxis2=axis("PSNR (dB, higher is better)", anchor="x2"),
    )
    return go.Figure(data=traces, layout=layout)


def latent_scatter(
    xy: np.ndarray, labels: np.ndarray, index: np.ndarray, classes: Sequence[str], title: str
) -> go.Figure:
    """Codes in 2-D, one trace per class; each point's ``customdata`` is its test-set index (for selection)."""
    palette = [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
        "#17becf",
    ]
    traces = []
    for k, name in enumerate(classes):
        sel = labels == k
        if not sel.any():
            continue
        traces.append(
            go.Scattergl(
                x=xy[sel, 0],
                y=xy[sel, 1],
                mode="markers",
                name=str(name),
                customdata=index[sel],
                marker=dict(size=5, color=palette[k % len(palette)], opacity=0.75),
                hovertemplate=f"{name}<br>test image %{{customdata}}<extra></extra>",
            )
        )
    return go.Figure(
        traces,
        layout=figure_layout(
            title,
            460,
            xaxis=axis("axis 1"),
            yaxis=axis("axis 2"),
            legend=dict(orientation="v", x=1.02, y=1),
            dragmode="select",
        ),
    )


def reconstruction_errors(
    rows: Sequence[tuple[str, float]], title: str = "test MSE per pixel (lower is better)"
) -> go.Figure:
    """Horizontal bars: each reconstruction's test MSE, e.g. the model, PCA of the same size, the corrupted input."""
    names, values = [r[0] for r in rows], [r[1] for r in rows]
    colours = [TEST if i == 0 else "#7f7f7f" if "input" in n else TRAIN for i, n in enumerate(names)]
    bars = go.Bar(
        x=values,
        y=names,
        orientation="h",
        marker_color=colours,
        text=[f"{v:.4f}" for v in values],
        textposition="auto",
        hovertemplate="%{y}: %{x:.5f}<extra></extra>",
    )
    return go.Figure(
        bars, layout=figure_layout(title, 80 + 45 * len(rows), xaxis=axis("MSE"), yaxis=dict(autorange="reversed"))
    )
