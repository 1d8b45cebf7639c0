"""ToolUse-Bars-v0: which bar is the tallest, when two of them look alike? (see :mod:`.family`)."""

from iapo_bench.envs.bars.family import BarsFamily, render_bars

__all__ = ["BarsFamily", "render_bars"]
