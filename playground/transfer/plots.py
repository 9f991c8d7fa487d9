"""Figures of the Transfer learning page (plotly, in the style of ``playground.plots``)."""

from __future__ import annotations

from typing import Any, Sequence

import plotly.graph_objects as go

from ..plots import TEST, TRAIN, axis, figure_layout

__all__ = ["top5_figure", "comparison_figure"]


def top5_figure(rows: Sequence[dict[str, Any]], title: str = "ImageNet top-5") -> go.Figure:
    names = [r["class"] for r in rows][::-1]  # the best on top
    probs = [r["probability"] for r in rows][::-1]
    bar = go.Bar(
        x=probs,
        y=names,
        orientation="h",
        marker_color=TRAIN,
        text=[f"{p:.1%}" for p in probs],
        textposition="auto",
        hovertemplate="%{y}: %{x:.2%}<extra></extra>",
    )
    return go.Figure(bar, layout=figure_layout(title, 280, xaxis=axis("probability", range=[0, 1])))


def comparison_figure(runs: dict[str, list[dict[str, Any]]]) -> go.Figure:
    """Test accuracy per epoch of several runs on the same data (e.g. from scratch vs transferred)."""
    colours = [TEST, TRAIN, "#2ca02c", "#9467bd", "#ff7f0e"]
    traces = [
        go.Scatter(
            x=[e["epoch"] + 1 for e in epochs],
            y=[e["test_acc"] for e in epochs],
            name=label,
            mode="lines+markers",
            line=dict(color=colours[i % len(colours)]),
        )
        for i, (label, epochs) in enumerate(runs.items())
    ]
    return go.Figure(
        data=traces,
        layout=figure_layout(
            "test accuracy: from scratch vs transferred",
            xaxis=axis("epoch", dtick=1),
            yaxis=axis("test accuracy", range=[0, 1.02]),
        ),
    )
