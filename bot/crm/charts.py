"""PNG charts (matplotlib, an optional extra) for the reports: loaded on first use, with
a CJK font when one is installed so Chinese labels render."""

from __future__ import annotations

from typing import Any

from bot.errors import InputError


def pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise InputError(
            "--png needs matplotlib: pip install 'siyu-copilot[charts]' (or matplotlib)"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    # A CJK font if one is installed, so Chinese group names render; else DejaVu Sans.
    wanted = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "SimHei")
    have = {f.name for f in font_manager.fontManager.ttflist}
    plt.rcParams["font.sans-serif"] = [f for f in wanted if f in have] + ["DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    return plt
