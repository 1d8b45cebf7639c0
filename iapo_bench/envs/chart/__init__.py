"""The chart task family (``ToolUse-Chart-v0``): bar-chart rendering and questions."""

from iapo_bench.envs.chart.family import QUESTION_KINDS, ChartFamily, answer_question

__all__ = ["QUESTION_KINDS", "ChartFamily", "answer_question"]
