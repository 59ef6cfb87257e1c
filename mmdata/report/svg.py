"""Bar charts and histograms as inline SVG, for reports written inside a build.

A mixture's report needs four small charts; drawing them with matplotlib costs about a second of
import and rasterising on two cores, more than the rest of the report. These charts are plain
rectangles and text, so they are written directly: exact, searchable text and a few kilobytes each.
"""

from __future__ import annotations

import html

import numpy as np

_FONT = "font-family:system-ui,sans-serif;font-size:11px"


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:.3g}"


def bars(labels: list[str], values: list[float], title: str, color: str, *, horizontal: bool = True, width: int = 360) -> str:
    """One bar per label, the value written at its end."""
    values = [float(v) for v in values]
    top = max(values, default=0.0) or 1.0
    if horizontal:
        label_w, row_h = 8 + 7 * max((len(x) for x in labels), default=1), 18
        plot_w = width - label_w - 60
        height = 24 + row_h * len(labels) + 6
        out = []
        for k, (name, v) in enumerate(zip(labels, values, strict=True)):
            y = 24 + k * row_h
            w = plot_w * v / top
            out.append(f"<text x='{label_w - 4}' y='{y + 12}' text-anchor='end'>{html.escape(name)}</text>"
                       f"<rect x='{label_w}' y='{y + 2}' width='{w:.1f}' height='{row_h - 5}' fill='{color}'/>"
                       f"<text x='{label_w + w + 3:.1f}' y='{y + 12}'>{_num(v)}</text>")  # fmt: skip
    else:
        col_w, plot_h = max(22, (width - 20) // max(1, len(labels))), 120
        label_h = 6 * max((len(x) for x in labels), default=1)
        height = 24 + 14 + plot_h + label_h + 6
        out = []
        for k, (name, v) in enumerate(zip(labels, values, strict=True)):
            x = 10 + k * col_w
            h = plot_h * v / top
            y = 38 + plot_h - h
            cx = x + col_w / 2
            out.append(f"<rect x='{x + 2}' y='{y:.1f}' width='{col_w - 4}' height='{h:.1f}' fill='{color}'/>"
                       f"<text x='{cx:.1f}' y='{y - 3:.1f}' text-anchor='middle'>{_num(v)}</text>"
                       f"<text x='{cx:.1f}' y='{38 + plot_h + 10}' text-anchor='end' "
                       f"transform='rotate(-35 {cx:.1f} {38 + plot_h + 10})'>{html.escape(name)}</text>")  # fmt: skip
        width = max(width, 20 + col_w * len(labels))
    return _svg(width, height, title, out)


def histogram(values: np.ndarray, bins, title: str, color: str, *, width: int = 360) -> str:
    """Counts of ``values`` in ``bins`` (as :func:`numpy.histogram` takes them), drawn as adjacent bars
    over an axis labelled with the first and last edges."""
    counts, edges = np.histogram(np.asarray(values), bins=bins)
    top = max(int(counts.max()) if len(counts) else 0, 1)
    plot_w, plot_h = width - 20, 120
    bw = plot_w / max(1, len(counts))
    out = [f"<rect x='{10 + k * bw:.1f}' y='{24 + plot_h - plot_h * c / top:.1f}' width='{max(bw - 1, 0.5):.1f}' "
           f"height='{plot_h * c / top:.1f}' fill='{color}'><title>{_num(edges[k])}–{_num(edges[k + 1])}: {c:,}</title></rect>"
           for k, c in enumerate(counts.tolist())]  # fmt: skip
    out.append(f"<line x1='10' y1='{24 + plot_h}' x2='{10 + plot_w}' y2='{24 + plot_h}' stroke='#888'/>")
    if len(edges):
        out.append(f"<text x='10' y='{24 + plot_h + 13}'>{_num(edges[0])}</text>"
                   f"<text x='{10 + plot_w}' y='{24 + plot_h + 13}' text-anchor='end'>{_num(edges[-1])}</text>"
                   f"<text x='{10 + plot_w}' y='20' text-anchor='end'>max {top:,} per bin</text>")  # fmt: skip
    return _svg(width, 24 + plot_h + 20, title, out)


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' style='{_FONT}' role='img' "
            f"aria-label='{html.escape(title)}'><text x='4' y='14' style='font-weight:600'>{html.escape(title)}</text>"
            + "".join(body) + "</svg>")  # fmt: skip


def row(*charts: str) -> str:
    """Charts side by side, wrapping on a narrow page."""
    return "<div style='display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start'>" + "".join(charts) + "</div>"
