"""PNG charts (matplotlib, an optional extra) for the reports: loaded on first use, with
a CJK font found on the system, so the Chinese of titles, groups and legends renders.

The font is looked up through fontconfig first (``fc-list :lang=zh``: every font that
covers Chinese, whatever its family is called — WenQuanYi Micro Hei, Noto Sans CJK,
Source Han Sans, AR PL UMing …), then among the fonts matplotlib knows, by whether a
font has glyphs for Chinese. Without one, a chart is refused with what to install:
a PNG of boxes helps nobody.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bot.errors import InputError
from knowledge.files import replace_atomically

log = logging.getLogger(__name__)

#: Characters a CJK font must have glyphs for.
SAMPLE = "漏斗转化率客户"
NO_CJK_FONT = (
    "没有找到中文字体，图表里的中文会显示成方框：请安装一个中文字体（Debian / Ubuntu："
    "sudo apt install fonts-noto-cjk 或 fonts-wqy-microhei；其他系统装任一 Noto Sans CJK /"
    " 思源黑体 / 文泉驿字体），再运行一次"
)
FC_TIMEOUT_S = 10


def fontconfig_cjk_fonts() -> list[Path]:
    """Font files fontconfig says cover Chinese (``fc-list :lang=zh file``); empty
    without fontconfig."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        done = subprocess.run(
            [fc_list, ":lang=zh", "file"],
            capture_output=True,
            text=True,
            timeout=FC_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("fc-list failed: %s", exc)
        return []
    files = (line.strip().rstrip(":").strip() for line in done.stdout.splitlines())
    return sorted({Path(f) for f in files if f})


def covers_chinese(path: Path) -> bool:
    """Whether the font file has glyphs for ``SAMPLE`` (its first face, for a .ttc)."""
    from matplotlib.ft2font import FT2Font

    try:
        charmap = FT2Font(str(path)).get_charmap()
    except (OSError, RuntimeError, ValueError):
        return False
    return all(ord(c) in charmap for c in SAMPLE)


def cjk_font(
    *,
    fontconfig: Callable[[], list[Path]] = fontconfig_cjk_fonts,
    known_fonts: Iterable[Path] | None = None,
) -> Path | None:
    """A font file that renders Chinese: the first fontconfig lists that really covers
    it, else the first of ``known_fonts`` (default: the fonts matplotlib found) that
    does; None when there is none."""
    for path in fontconfig():
        if path.is_file() and covers_chinese(path):
            return path
    if known_fonts is None:
        from matplotlib import font_manager

        known_fonts = sorted({Path(f.fname) for f in font_manager.fontManager.ttflist})
    for path in known_fonts:
        if covers_chinese(path):
            return path
    return None


def pyplot(*, font: Path | None = None) -> Any:
    """matplotlib's pyplot on the Agg backend, its sans-serif font one that renders
    Chinese (``font``, or ``cjk_font()``); ``InputError`` saying what to install when the
    system has none."""
    try:
        import matplotlib
    except ImportError as exc:
        raise InputError(
            "--png 需要 matplotlib：pip install 'siyu-copilot[charts]'（或 matplotlib）"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    font = font or cjk_font()
    if font is None:
        raise InputError(NO_CJK_FONT)
    font_manager.fontManager.addfont(str(font))
    name = font_manager.FontProperties(fname=str(font)).get_name()
    plt.rcParams["font.family"] = "sans-serif"
    plt.rcParams["font.sans-serif"] = [name, "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    return plt


def blank_note(ax: Any, text: str) -> None:
    """Say on an empty chart why it is empty."""
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=12,
        color="#555555",
        wrap=True,
    )


def whole_numbers(ax: Any) -> None:
    """Ticks at whole numbers only, for an axis of counts (no 0.25 of a customer)."""
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def save_png(plt: Any, fig: Any, path: Path) -> None:
    """Write ``fig`` to ``path`` as PNG, whole or not at all (a folder that does not exist
    or cannot be written is an ``InputError`` in Chinese, as for the CSV beside it), then
    close it (pyplot keeps every open figure)."""
    try:
        replace_atomically(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
