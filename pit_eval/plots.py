"""Plots several benchmarks' reports share (a benchmark's own plots live in its module), and a figure
as the PNG bytes the reports embed."""
from __future__ import annotations

import base64
import html
import io


def html_figure(name: str, png: bytes) -> str:
    """A PNG embedded in a self-contained HTML page, captioned with its name."""
    n = html.escape(name)
    return (f"<figure><img alt='{n}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
            f"<figcaption>{n}</figcaption></figure>")


def figure_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def sweep_plot(runs, x: str, title: str, xlabel: str):
    """Top-1 against a sweep's parameter, one line per run."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for label, e in runs:
        if e.get(x):
            ax.plot(e[x], [100 * v for v in e["acc1"]], marker="o", label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("top-1 %")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return fig
