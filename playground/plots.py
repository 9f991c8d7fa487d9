"""Plotly figure builders: data in, ``go.Figure`` out (no Streamlit, no state).

Long curves are downsampled to at most ``MAX_POINTS`` per trace, so a redraw
costs the same after 30 minutes of training as after 30 seconds.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

__all__ = [
    "MAX_POINTS",
    "downsample",
    "training_curves",
    "lr_curve",
    "throughput",
    "confusion_matrix",
    "per_class_accuracy",
    "class_distribution",
    "pixel_histogram",
    "flatten_strip",
    "channel_heatmaps",
    "figure_layout",
    "axis",
    "live_figure",
    "TRAIN",
    "TEST",
]

MAX_POINTS = 1500
TRAIN, TEST = "#1f77b4", "#d62728"
# Figures are built in one go from dicts: plotly's make_subplots and update_* calls cost
# 50-100 ms a figure, too much for a page that redraws every second beside a training run.
LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), height=320, legend=dict(orientation="h", y=-0.25))


def figure_layout(title: str | None = None, height: int | None = None, **kw: Any) -> dict[str, Any]:
    out = {**LAYOUT, **kw}
    if title:
        out["title"] = dict(text=title)
    if height:
        out["height"] = height
    return out


def axis(title: str | None = None, **kw: Any) -> dict[str, Any]:
    return {**({"title": dict(text=title)} if title else {}), **kw}


def downsample(x: Sequence[float], y: Sequence[float], max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Bucket means (x: bucket's last value) so at most ``max_points`` remain; keeps the last point."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(xa)
    if n <= max_points:
        return xa, ya
    size = int(np.ceil(n / max_points))
    m = (n // size) * size
    xs = xa[size - 1 : m : size]
    ys = ya[:m].reshape(-1, size).mean(1)
    if m < n:
        xs, ys = np.append(xs, xa[-1]), np.append(ys, ya[m:].mean())
    return xs, ys


def _scatter(**kw: Any) -> dict[str, Any]:
    return dict(type="scatter", **kw)


def live_figure(traces: list[dict[str, Any]], layout: dict[str, Any]) -> go.Figure:
    """The figures a live run redraws every second, built without plotly's validation: ``st.plotly_chart``
    validates every figure it draws (``plotly.tools.return_figure_from_figure_or_data``), so validating here
    as well doubled the figure's cost (5.4 of 7 ms for the training curves; the JSON drawn is the same, a
    test compares it)."""
    return go.Figure(dict(data=traces, layout=layout), _validate=False)


# task_figures("classify")
CLASSIFY: dict[str, Any] = {"metric": "acc", "test": "test_acc", "label": "accuracy", "range": (0.0, 1.02)}


def training_curves(
    steps: dict[str, list],
    epochs: list[dict[str, Any]],
    sets: Sequence[dict[str, Any]] = (),
    quick: dict[str, list] | None = None,
    figures: dict[str, Any] | None = None,
) -> go.Figure:
    """Loss (left) and accuracy (right): train per logged step, the full test split per epoch (solid
    markers at the epoch's last step), the quick test estimate on a fixed subset while the epoch trains
    (``quick``: the buffer's columns; small hollow markers on a dotted line, labelled with its size); a
    dotted line at each setting changed while it trained, labelled with the new value. ``figures``: what the
    run's task reports (``train.tasks.task_figures``: an autoencoder's PSNR, not an accuracy)."""
    f = figures or CLASSIFY
    traces = []
    if steps["step"]:
        x, y = downsample(steps["step"], steps["loss"])
        traces.append(_scatter(x=x, y=y, name="train", line=dict(color=TRAIN), legendgroup="train"))
        x, y = downsample(steps["step"], steps.get(f["metric"]) or [None] * len(steps["step"]))
        traces.append(
            _scatter(
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
    traces += _quick_traces(quick)
    if epochs:
        ex = [e["step"] for e in epochs]
        full = dict(mode="lines+markers", line=dict(color=TEST), marker=dict(size=8), legendgroup="test")
        traces.append(_scatter(x=ex, y=[e.get("test_loss") for e in epochs], name="test (full)", **full))
        traces.append(
            _scatter(
                x=ex,
                y=[e.get(f["test"]) for e in epochs],
                name="test (full)",
                showlegend=False,
                xaxis="x2",
                yaxis="y2",
                **full,
            )
        )
        traces += _validation_traces(epochs)
    layout = figure_layout(
        xaxis=axis("step", domain=[0, 0.45]),
        yaxis=axis("loss"),
        xaxis2=axis("step", domain=[0.55, 1], anchor="y2"),
        yaxis2=axis(f["label"], anchor="x2", **({"range": list(f["range"])} if f["range"] else {})),
    )
    layout.update(_setting_marks(sets))
    return live_figure(traces, layout)


def _setting_marks(sets: Sequence[dict[str, Any]]) -> dict[str, list]:
    """A dotted line on both panels at each setting changed while the run trained, labelled with the new
    value (the layout's ``shapes`` and ``annotations``)."""
    shapes, notes = [], []
    for e in sets:
        text = ", ".join(f"{k.replace('_', ' ')} {e[k]:.2g}" for k in ("lr", "momentum", "weight_decay") if k in e)
        for xa, ya in (("x", "y"), ("x2", "y2")):
            shapes.append(
                dict(
                    type="line",
                    xref=xa,
                    yref=f"{ya} domain",
                    x0=e["step"],
                    x1=e["step"],
                    y0=0,
                    y1=1,
                    line=dict(color="#7f7f7f", dash="dot", width=1),
                )
            )
        notes.append(
            dict(
                x=e["step"],
                y=1,
                xref="x",
                yref="y domain",
                text=text,
                showarrow=False,
                xanchor="left",
                yanchor="top",
                font=dict(size=10, color="#555"),
            )
        )
    return {"shapes": shapes, "annotations": notes}


VALIDATION = "#2ca02c"


def _validation_traces(epochs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """With a validation split: its loss and accuracy per epoch (dashed), and a star on the kept epoch (the
    last one marked ``val_best``: the lowest validation loss, the checkpoint that is tested and saved)."""
    val = [e for e in epochs if "val_loss" in e]
    if not val:
        return []
    vx = [e["step"] for e in val]
    style = dict(
        mode="lines+markers", line=dict(color=VALIDATION, dash="dash"), marker=dict(size=7), legendgroup="validation"
    )
    out = [_scatter(x=vx, y=[e["val_loss"] for e in val], name="validation", **style)]
    if all("val_acc" in e for e in val):
        out.append(
            _scatter(
                x=vx,
                y=[e["val_acc"] for e in val],
                name="validation",
                showlegend=False,
                xaxis="x2",
                yaxis="y2",
                **style,
            )
        )
    kept = [e for e in val if e.get("val_best")]
    if kept:
        out.append(
            _scatter(
                x=[kept[-1]["step"]],
                y=[kept[-1]["val_loss"]],
                name="kept: best validation",
                mode="markers",
                marker=dict(symbol="star", size=16, color=VALIDATION, line=dict(color="#000", width=1)),
            )
        )
    return out


def _quick_traces(quick: dict[str, list] | None) -> list[dict[str, Any]]:
    """The quick test estimate's loss and accuracy traces (none before the first estimate)."""
    if not quick or not quick.get("step"):
        return []
    name = f"test estimate ({quick['n'][-1]:,} images)"
    style = dict(
        mode="lines+markers",
        line=dict(color=TEST, dash="dot", width=1),
        legendgroup="quick",
        marker=dict(color=TEST, symbol="circle-open", size=6),
    )
    x, y = downsample(quick["step"], quick["loss"])
    out = [_scatter(x=x, y=y, name=name, **style)]
    if any(a is not None for a in quick.get("acc", ())):
        x, y = downsample(quick["step"], quick["acc"])
        out.append(_scatter(x=x, y=y, name=name, showlegend=False, xaxis="x2", yaxis="y2", **style))
    return out


def lr_curve(steps: dict[str, list]) -> go.Figure:
    x, y = downsample(steps["step"], steps["lr"])
    return live_figure(
        [_scatter(x=x, y=y, name="learning rate", line=dict(color="#2ca02c"))],
        figure_layout(
            "learning rate (log scale)", 240, xaxis=axis("step"), yaxis=dict(type="log", exponentformat="power")
        ),
    )


def throughput(steps: dict[str, list]) -> go.Figure:
    x, y = downsample(steps["step"], steps["images_per_s"])
    return live_figure(
        [_scatter(x=x, y=y, name="images/s", line=dict(color="#9467bd"))],
        figure_layout("images per second", 240, xaxis=axis("step")),
    )


def confusion_matrix(
    matrix: Sequence[Sequence[int]], classes: Sequence[str], title: str = "confusion matrix"
) -> go.Figure:
    m = np.asarray(matrix)
    heat = go.Heatmap(
        z=m,
        x=list(classes),
        y=list(classes),
        colorscale="Blues",
        text=m,
        texttemplate="%{text}",
        hovertemplate="true %{y}<br>predicted %{x}<br>%{z}<extra></extra>",
    )
    return go.Figure(
        heat,
        layout=figure_layout(title, 420, xaxis=axis("predicted class"), yaxis=axis("true class", autorange="reversed")),
    )


def per_class_accuracy(acc: Sequence[float], classes: Sequence[str]) -> go.Figure:
    return go.Figure(
        go.Bar(x=list(classes), y=list(acc), marker_color=TEST),
        layout=figure_layout("accuracy per class", yaxis=axis("test accuracy", range=[0, 1])),
    )


def class_distribution(counts: dict[str, list[int]], classes: Sequence[str]) -> go.Figure:
    return go.Figure(
        [go.Bar(x=list(classes), y=v, name=k) for k, v in counts.items()],
        layout=figure_layout("images per class", barmode="group"),
    )


def pixel_histogram(hist: dict[str, Any], title: str = "pixel values") -> go.Figure:
    centres = (hist["edges"][:-1] + hist["edges"][1:]) / 2
    colours = {"grey": "#555", "red": "#d62728", "green": "#2ca02c", "blue": "#1f77b4"}
    return go.Figure(
        [
            go.Scatter(x=centres, y=c, name=n, mode="lines", line=dict(color=colours[n]))
            for n, c in zip(hist["channels"], hist["counts"])
        ],
        layout=figure_layout(title, xaxis=axis("value"), yaxis=axis("pixels")),
    )


def flatten_strip(vector: np.ndarray, width: int) -> go.Figure:
    """The MLP's input: one long row of numbers (rows of ``width`` pixels follow one another)."""
    heat = go.Heatmap(
        z=vector[None, :], colorscale="gray", showscale=False, hovertemplate="input %{x}: %{z:.2f}<extra></extra>"
    )
    return go.Figure(
        heat,
        layout=figure_layout(
            f"what an MLP sees: {len(vector)} numbers in a row",
            160,
            yaxis=dict(visible=False),
            xaxis=axis(f"input index (0..{len(vector) - 1}); rows of {width} pixels follow one another"),
        ),
    )


def channel_heatmaps(arr: np.ndarray, title: str, zmid: float | None = None) -> go.Figure:
    """(C, H, W) values as one heatmap per channel, side by side."""
    c = arr.shape[0]
    traces, layout = [], figure_layout(title, 300)
    gap = 0.04
    width = (1 - gap * (c - 1)) / c
    for i in range(c):
        sx, sy = ("", "") if i == 0 else (str(i + 1), str(i + 1))
        traces.append(
            go.Heatmap(
                z=arr[i],
                colorscale="RdBu_r" if zmid is not None else "gray",
                zmid=zmid,
                showscale=i == c - 1,
                xaxis=f"x{sx}",
                yaxis=f"y{sy}",
            )
        )
        layout[f"xaxis{sx}"] = dict(
            domain=[i * (width + gap), i * (width + gap) + width], title=dict(text=f"channel {i}") if c > 1 else None
        )
        layout[f"yaxis{sy}"] = dict(autorange="reversed", scaleanchor=f"x{sx}", anchor=f"x{sx}")
    return go.Figure(traces, layout=layout)
