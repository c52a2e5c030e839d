"""Point labels that overlap neither each other, nor the markers, nor the axes' edges.

Greedy placement in display pixels: for each point, try offsets on rings of growing
radius around its marker and keep the first whose text box is free; far labels get a
thin leader line.  :func:`overlapping_pairs` is the check tests (and callers) run on
the result.  Pure matplotlib; nothing here counts anything.
"""
from __future__ import annotations

import math
from typing import Sequence

ANGLES = (0, 180, 90, 270, 35, 145, 325, 215, 60, 120, 300, 240)
RINGS = (4, 12, 24, 40, 60, 85)          # pixels beyond the marker's radius
PAD = 2.0                                # pixels kept free around every text box


def _free(box, others) -> bool:
    return not any(box.overlaps(o) for o in others)


def place_labels(ax, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str],
                 radii_px: Sequence[float], fontsize: float = 8, color: str = "black"):
    """Annotate each (x, y) with its label; returns the Text artists (one per label).

    ``radii_px``: each marker's radius in display pixels (treated as an obstacle)."""
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    to_pt = 72.0 / fig.dpi
    pts = [ax.transData.transform((x, y)) for x, y in zip(xs, ys)]
    markers = [Bbox.from_extents(px - r, py - r, px + r, py + r)
               for (px, py), r in zip(pts, radii_px)]
    frame = ax.get_window_extent(renderer)
    placed, texts = [], []
    for i in sorted(range(len(labels)), key=lambda k: -radii_px[k]):
        (px, py), r = pts[i], radii_px[i]
        obstacles = markers[:i] + markers[i + 1:] + placed
        best = None
        for ring in RINGS:
            for angle in ANGLES:
                dx = (r + ring) * math.cos(math.radians(angle))
                dy = (r + ring) * math.sin(math.radians(angle))
                ha = "left" if dx > 1 else "right" if dx < -1 else "center"
                va = "bottom" if dy > 1 else "top" if dy < -1 else "center"
                t = ax.annotate(labels[i], (xs[i], ys[i]), xytext=(dx * to_pt, dy * to_pt),
                                textcoords="offset points", ha=ha, va=va, fontsize=fontsize,
                                color=color)
                box = t.get_window_extent(renderer).padded(PAD)
                inside = (box.x0 >= frame.x0 and box.x1 <= frame.x1 and
                          box.y0 >= frame.y0 and box.y1 <= frame.y1)
                if inside and _free(box, obstacles) and not box.overlaps(markers[i]):
                    best = (t, box, ring)
                    break
                t.remove()
            if best:
                break
        if best is None:   # no free spot: right of the marker, flagged by overlapping_pairs
            t = ax.annotate(labels[i], (xs[i], ys[i]), xytext=((r + 4) * to_pt, 0),
                            textcoords="offset points", ha="left", va="center",
                            fontsize=fontsize, color=color)
            best = (t, t.get_window_extent(renderer).padded(PAD), 0)
        t, box, ring = best
        if ring >= RINGS[2]:   # far from its marker: a thin leader line back to it
            t.remove()
            t = ax.annotate(t.get_text(), (xs[i], ys[i]), xytext=t.xyann,
                            textcoords="offset points", ha=t.get_ha(), va=t.get_va(),
                            fontsize=fontsize, color=color,
                            arrowprops=dict(arrowstyle="-", lw=0.5, color="0.55",
                                            shrinkA=1, shrinkB=r * to_pt))
        placed.append(box)
        texts.append((i, t))
    return [t for _, t in sorted(texts, key=lambda it: it[0])]


def overlapping_pairs(ax, texts, radii_px: Sequence[float] = (), xs=(), ys=()) -> list[tuple]:
    """Pairs of labels whose boxes overlap, and (label, point) pairs where a label covers
    a marker other than its own; empty when the layout is clean."""
    from matplotlib.transforms import Bbox

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in texts]
    bad = [(texts[a].get_text(), texts[b].get_text())
           for a in range(len(boxes)) for b in range(a + 1, len(boxes))
           if boxes[a].overlaps(boxes[b])]
    for j, (x, y, r) in enumerate(zip(xs, ys, radii_px)):
        px, py = ax.transData.transform((x, y))
        marker = Bbox.from_extents(px - r, py - r, px + r, py + r)
        bad += [(texts[a].get_text(), f"point {j}") for a in range(len(boxes))
                if a != j and boxes[a].overlaps(marker)]
    return bad
