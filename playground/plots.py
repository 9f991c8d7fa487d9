"""Plotly figure builders: data in, ``go.Figure`` out (no Streamlit, no state).

Long curves are downsampled to at most ``MAX_POINTS`` per trace, so a redraw
costs the same after 30 minutes of training as after 30 seconds.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["MAX_POINTS", "downsample", "training_curves", "lr_curve", "throughput", "confusion_matrix",
           "per_class_accuracy", "class_distribution", "pixel_histogram", "flatten_strip", "channel_heatmaps"]

MAX_POINTS = 1500
TRAIN, TEST = "#1f77b4", "#d62728"
LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), height=320, legend=dict(orientation="h", y=-0.2))


def downsample(x: Sequence[float], y: Sequence[float], max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Bucket means (x: bucket's last value) so at most ``max_points`` remain; keeps the last point."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n <= max_points:
        return x, y
    size = int(np.ceil(n / max_points))
    m = (n // size) * size
    xs = x[size - 1 : m : size]
    ys = y[:m].reshape(-1, size).mean(1)
    if m < n:
        xs, ys = np.append(xs, x[-1]), np.append(ys, y[m:].mean())
    return xs, ys


def training_curves(steps: dict[str, list], epochs: list[dict[str, Any]]) -> go.Figure:
    """Loss and accuracy: train per logged step, test per epoch (at the epoch's last step)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    if steps["step"]:
        x, y = downsample(steps["step"], steps["loss"])
        fig.add_trace(go.Scatter(x=x, y=y, name="train loss", line=dict(color=TRAIN)), 1, 1)
        x, y = downsample(steps["step"], steps["acc"])
        fig.add_trace(go.Scatter(x=x, y=y, name="train acc", line=dict(color=TRAIN), showlegend=False), 1, 2)
    if epochs:
        ex = [e["step"] for e in epochs]
        fig.add_trace(go.Scatter(x=ex, y=[e["test_loss"] for e in epochs], name="test", mode="lines+markers",
                                 line=dict(color=TEST)), 1, 1)
        fig.add_trace(go.Scatter(x=ex, y=[e["test_acc"] for e in epochs], name="test acc", mode="lines+markers",
                                 line=dict(color=TEST), showlegend=False), 1, 2)
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    return fig.update_layout(**LAYOUT)


def lr_curve(steps: dict[str, list]) -> go.Figure:
    x, y = downsample(steps["step"], steps["lr"])
    fig = go.Figure(go.Scatter(x=x, y=y, name="learning rate", line=dict(color="#2ca02c")))
    fig.update_yaxes(type="log", exponentformat="power")
    return fig.update_layout(title="learning rate (log scale)", xaxis_title="step", **{**LAYOUT, "height": 240})


def throughput(steps: dict[str, list]) -> go.Figure:
    x, y = downsample(steps["step"], steps["images_per_s"])
    fig = go.Figure(go.Scatter(x=x, y=y, name="images/s", line=dict(color="#9467bd")))
    return fig.update_layout(title="images per second", xaxis_title="step", **{**LAYOUT, "height": 240})


def confusion_matrix(matrix: Sequence[Sequence[int]], classes: Sequence[str], title: str = "confusion matrix") -> go.Figure:
    m = np.asarray(matrix)
    fig = go.Figure(go.Heatmap(z=m, x=list(classes), y=list(classes), colorscale="Blues", text=m,
                               texttemplate="%{text}", hovertemplate="true %{y}<br>predicted %{x}<br>%{z}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title_text="true class")
    fig.update_xaxes(title_text="predicted class")
    return fig.update_layout(title=title, **{**LAYOUT, "height": 420})


def per_class_accuracy(acc: Sequence[float], classes: Sequence[str]) -> go.Figure:
    fig = go.Figure(go.Bar(x=list(classes), y=list(acc), marker_color=TEST))
    fig.update_yaxes(range=[0, 1], title_text="test accuracy")
    return fig.update_layout(title="accuracy per class", **LAYOUT)


def class_distribution(counts: dict[str, list[int]], classes: Sequence[str]) -> go.Figure:
    fig = go.Figure([go.Bar(x=list(classes), y=v, name=k) for k, v in counts.items()])
    return fig.update_layout(title="images per class", barmode="group", **LAYOUT)


def pixel_histogram(hist: dict[str, Any], title: str = "pixel values") -> go.Figure:
    centres = (hist["edges"][:-1] + hist["edges"][1:]) / 2
    colours = {"grey": "#555", "red": "#d62728", "green": "#2ca02c", "blue": "#1f77b4"}
    fig = go.Figure([go.Scatter(x=centres, y=c, name=n, mode="lines", line=dict(color=colours[n]))
                     for n, c in zip(hist["channels"], hist["counts"])])
    return fig.update_layout(title=title, xaxis_title="value", yaxis_title="pixels", **LAYOUT)


def flatten_strip(vector: np.ndarray, width: int) -> go.Figure:
    """The MLP's input: one long row of numbers (wrapped every ``width`` values for display)."""
    fig = go.Figure(go.Heatmap(z=vector[None, :], colorscale="gray", showscale=False,
                               hovertemplate="input %{x}: %{z:.2f}<extra></extra>"))
    fig.update_yaxes(visible=False)
    fig.update_xaxes(title_text=f"input index (0..{len(vector) - 1}); rows of {width} follow one another")
    return fig.update_layout(title=f"what an MLP sees: {len(vector)} numbers in a row",
                             **{**LAYOUT, "height": 160})


def channel_heatmaps(arr: np.ndarray, title: str, zmid: float | None = None) -> go.Figure:
    """(C, H, W) values as one heatmap per channel."""
    c = arr.shape[0]
    fig = make_subplots(rows=1, cols=c, subplot_titles=[f"channel {i}" for i in range(c)] if c > 1 else None)
    for i in range(c):
        fig.add_trace(go.Heatmap(z=arr[i], colorscale="RdBu_r" if zmid is not None else "gray", zmid=zmid,
                                 showscale=i == c - 1), 1, i + 1)
    fig.update_yaxes(autorange="reversed", scaleanchor="x")
    return fig.update_layout(title=title, **{**LAYOUT, "height": 300})
