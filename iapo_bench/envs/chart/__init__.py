"""The chart task family (``ToolUse-Chart-v0``): data tables, layouts, questions."""

from iapo_bench.envs.chart.data import KINDS, QUESTION_KINDS, answer_question
from iapo_bench.envs.chart.family import ChartFamily, chart_scene

__all__ = ["KINDS", "QUESTION_KINDS", "ChartFamily", "answer_question", "chart_scene"]
