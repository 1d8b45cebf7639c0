"""Tools, their schemas and the one action parser.

- :func:`tool`, :class:`Tool`, :data:`Hidden`, :class:`ToolError`: make tools from functions.
- :func:`parse_action`, :func:`format_tool_call`, :func:`format_answer`: the action format.
- :mod:`iapo_bench.tools.chart`: the chart tools.
"""

from iapo_bench.tools.base import Hidden, Tool, ToolError, format_validation_error, tool
from iapo_bench.tools.parser import format_answer, format_tool_call, parse_action

__all__ = [
    "Hidden",
    "Tool",
    "ToolError",
    "format_answer",
    "format_tool_call",
    "format_validation_error",
    "parse_action",
    "tool",
]
