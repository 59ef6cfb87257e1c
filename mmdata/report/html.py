"""Small helpers to build self-contained HTML pages with matplotlib figures embedded as PNG."""

from __future__ import annotations

import base64
import html
import io


def figure_png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, sections: list[tuple[str, str]]) -> str:
    css = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}"
           "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
           "th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}img{max-width:100%}")  # fmt: skip
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{css}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]  # fmt: skip
    for h, content in sections:
        parts.append(f"<h2>{html.escape(h)}</h2>{content}")
    parts.append("</body></html>")
    return "".join(parts)


def img(src: str, alt: str) -> str:
    return f"<img src='{src}' alt='{html.escape(alt)}'>"
