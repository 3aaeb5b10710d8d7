"""The batch report: one self-contained HTML file (figures embedded as PNG data URIs).

It shows what a beamline scientist checks after a batch: which specimens went through, what each looks like
(projection, slice, label overlay, maximum-intensity projection), the per-organ measurements, the group
comparison, what was flagged and why, what failed and why, and where the time went.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ReportData", "figure_png", "image_png", "write_report"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportData:
    """Everything the report shows; built by :mod:`xrai.pipeline.screen`."""

    title: str
    specimens: Sequence[
        Mapping[str, Any]
    ]  # name, group, status, error, flags, thumbnails {caption: png bytes}
    measurements: Sequence[Mapping[str, Any]] = ()  # one row per specimen × structure
    comparison: Sequence[
        Mapping[str, Any]
    ] = ()  # one row per feature: feature, groups, p, q, effect, significant
    figures: Mapping[str, bytes] = field(default_factory=dict)  # caption -> PNG
    stage_seconds: Mapping[str, float] = field(default_factory=dict)
    summary: Mapping[str, Any] = field(default_factory=dict)
    notes: Sequence[str] = ()
    tables: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)  # caption -> rows


def image_png(
    image: np.ndarray, *, cmap: str = "gray", overlay: np.ndarray | None = None, size: int = 160
) -> bytes:
    """A small PNG of a 2-D array (robust 1–99 % contrast), optionally with a label overlay."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    data = np.asarray(image, dtype=np.float64)
    finite = data[np.isfinite(data)]
    low, high = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
    fig = plt.figure(figsize=(size / 100, size / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(data, cmap=cmap, vmin=low, vmax=high if high > low else low + 1, interpolation="nearest")
    if overlay is not None:
        labels = np.ma.masked_equal(np.asarray(overlay), 0)
        ax.imshow(labels, cmap="tab10", alpha=0.45, interpolation="nearest", vmin=1, vmax=10)
    ax.set_axis_off()
    return _to_png(fig)


def figure_png(fig: Any) -> bytes:
    """PNG bytes of a matplotlib figure (the figure is closed)."""
    return _to_png(fig)


def _to_png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _img(png: bytes, alt: str, width: int | None = None) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    size = f' width="{width}"' if width else ""
    return f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}"{size}>'


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    columns = list(columns or rows[0].keys())
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c, "")
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
h1{margin-bottom:0}.sub{color:#666;margin-top:.2em}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}th{background:#f3f3f3}
.spec{display:inline-block;border:1px solid #ddd;border-radius:6px;padding:6px;margin:4px;vertical-align:top}
.spec figure{display:inline-block;margin:2px;text-align:center;font-size:11px}
.flag{color:#b00;font-weight:bold}.ok{color:#080}.failed{background:#fee}
.kpi{display:inline-block;margin-right:2em;font-size:15px}.kpi b{font-size:22px;display:block}
"""


def write_report(path: str | Path, data: ReportData) -> Path:
    """Write the self-contained HTML report to ``path``; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(data.title)}</title>"]
    parts.append(f"<style>{_STYLE}</style></head><body><h1>{html.escape(data.title)}</h1>")
    if data.summary:
        parts.append("<p class='sub'>")
        parts.extend(
            f"<span class='kpi'><b>{html.escape(_fmt(v))}</b>{html.escape(_label(k))}</span>"
            for k, v in data.summary.items()
        )
        parts.append("</p>")
    flagged = [s for s in data.specimens if s.get("flags")]
    failed = [s for s in data.specimens if s.get("status") == "failed"]
    parts.append("<h2>Flagged specimens</h2>")
    parts.append(
        _table(
            [
                {"specimen": s["name"], "group": s.get("group", ""), "flags": "; ".join(s["flags"])}
                for s in flagged
            ]
        )
    )
    if failed:
        parts.append("<h2>Failed specimens</h2>")
        parts.append(_table([{"specimen": s["name"], "error": s.get("error", "")} for s in failed]))
    parts.append("<h2>Specimens</h2>")
    for s in data.specimens:
        status = s.get("status", "")
        css = "spec failed" if status == "failed" else "spec"
        flags = s.get("flags") or []
        flag_html = (
            f"<div class='flag'>{html.escape('; '.join(flags))}</div>"
            if flags
            else "<div class='ok'>no flags</div>"
        )
        thumbs = "".join(
            f"<figure>{_img(png, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"
            for caption, png in (s.get("thumbnails") or {}).items()
        )
        parts.append(
            f"<div class='{css}'><b>{html.escape(s['name'])}</b> · {html.escape(str(s.get('group', '')))} · "
            f"{html.escape(status)}{flag_html}{thumbs}</div>"
        )
    for caption, rows in data.tables.items():
        parts.append(f"<h2>{html.escape(caption)}</h2>")
        parts.append(_table(rows))
    if data.comparison:
        parts.append("<h2>Group comparison</h2>")
        parts.append(_table(data.comparison))
    for caption, png in data.figures.items():
        parts.append(f"<h3>{html.escape(caption)}</h3>{_img(png, caption)}")
    if data.measurements:
        parts.append("<h2>Measurements</h2>")
        parts.append(_table(data.measurements))
    if data.stage_seconds:
        parts.append("<h2>Time per stage</h2>")
        total = sum(data.stage_seconds.values()) or 1.0
        parts.append(
            _table(
                [
                    {"stage": k, "seconds": v, "share": f"{100 * v / total:.1f} %"}
                    for k, v in sorted(data.stage_seconds.items(), key=lambda kv: -kv[1])
                ]
            )
        )
    for note in data.notes:
        parts.append(f"<p class='sub'>{html.escape(note)}</p>")
    parts.append("</body></html>")
    path.write_text("".join(parts), encoding="utf-8")
    return path


_LABELS = {
    "wall_time_s": "wall time (s)",
    "samples_per_hour": "samples/hour",
    "raw_mb_per_s": "MB/s (raw data)",
}


def _label(key: str) -> str:
    return _LABELS.get(key, key.replace("_", " "))


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
