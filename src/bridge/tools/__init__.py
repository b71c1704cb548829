"""Tools the model can call: a registry of async callables declared with JSON schema."""

from ._builtin import BRIDGE_TOOL_NAMES, builtin_tools, calculate, current_time
from ._registry import Tool, ToolError, ToolHandler, ToolRegistry
from ._schema import SchemaError

__all__ = [
    "BRIDGE_TOOL_NAMES",
    "SchemaError",
    "Tool",
    "ToolError",
    "ToolHandler",
    "ToolRegistry",
    "builtin_tools",
    "calculate",
    "current_time",
]
