"""Tools the model can call: a registry of async callables declared with JSON schema."""

from ._builtin import builtin_tools, calculate, current_time
from ._registry import Tool, ToolError, ToolHandler, ToolRegistry
from ._schema import SchemaError

__all__ = [
    "SchemaError",
    "Tool",
    "ToolError",
    "ToolHandler",
    "ToolRegistry",
    "builtin_tools",
    "calculate",
    "current_time",
]
