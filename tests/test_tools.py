"""Tool registry: declarations, argument validation, errors returned instead of raised."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bridge.config import BridgeConfig, ConfigError
from bridge.tools import BRIDGE_TOOL_NAMES, ToolError, ToolRegistry, builtin_tools

Run = Callable[..., Any]
BAD = "invalid arguments for add: "

ADD_SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "number"}, "b": {"type": "number", "minimum": 0}},
    "required": ["a", "b"],
}


def registry() -> ToolRegistry:
    tools = ToolRegistry()

    @tools.tool(parameters=ADD_SCHEMA)
    async def add(a: float, b: float) -> float:
        """Add two numbers."""
        return a + b

    @tools.tool(description="Takes too long.", timeout_s=0.05)
    async def slow() -> None:
        await asyncio.sleep(10)

    @tools.tool(description="Breaks.")
    async def broken() -> None:
        raise KeyError("gone")

    return tools


def test_declarations_use_the_docstring_and_schema() -> None:
    declarations = {d["name"]: d for d in registry().declarations()}
    assert declarations["add"] == {
        "name": "add",
        "description": "Add two numbers.",
        "parameters": ADD_SCHEMA,
    }
    assert "parameters" not in declarations["slow"]


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("add", {"a": 2, "b": 3.5}, {"result": 5.5}),
        ("add", {"a": 2}, {"error": BAD + "args.b: required"}),
        ("add", {"a": "2", "b": 1}, {"error": BAD + "args.a: expected number, got str"}),
        ("add", {"a": 1, "b": -1}, {"error": BAD + "args.b: must be >= 0, got -1"}),
        ("add", {"a": 1, "b": 1, "c": 1}, {"error": BAD + "args.c: unexpected argument"}),
        ("slow", {}, {"error": "slow timed out after 0.05 s"}),
        ("broken", {}, {"error": "broken failed: KeyError: 'gone'"}),
        ("nope", {}, {"error": "unknown tool 'nope'; available: ['add', 'broken', 'slow']"}),
    ],
)  # fmt: skip
def test_call_results_and_errors(
    run_virtual: Run, name: str, args: dict[str, Any], expected: Any
) -> None:
    assert run_virtual(registry().call(name, args)) == expected


def test_cancellation_propagates_to_the_caller(run_virtual: Run) -> None:
    tools = ToolRegistry()
    started = asyncio.Event()

    @tools.tool(description="Waits forever.")
    async def wait() -> None:
        started.set()
        await asyncio.Event().wait()

    async def scenario() -> None:
        task = asyncio.create_task(tools.call("wait", {}))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_virtual(scenario())


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": "bad name"}, "must match"),
        ({"name": "add"}, "already registered"),
        ({"description": " "}, "description"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"parameters": {"type": "string"}}, "type 'object'"),
        ({"parameters": {"type": "object", "properties": {"x": {"type": "date"}}}}, "x.type"),
        ({"parameters": {"type": "object", "required": ["x"]}}, "'x' is not in properties"),
        ({"behavior": "non_blocking"}, "behavior must be one of"),
        ({"scheduling": "LATER"}, "scheduling must be one of"),
    ],
)
def test_bad_registrations_say_what_is_wrong(kwargs: dict[str, Any], fragment: str) -> None:
    tools = registry()

    async def handler() -> None:
        return None

    arguments: dict[str, Any] = {"name": "fresh", "description": "d", **kwargs}
    name = arguments.pop("name")
    with pytest.raises(ToolError, match=fragment):
        tools.register(name, handler, **arguments)


def test_sync_handler_is_refused() -> None:
    with pytest.raises(ToolError, match="async"):
        ToolRegistry().register("f", lambda: 1, description="d")  # type: ignore[arg-type]


def test_builtin_calculate_is_exact_and_safe(run_virtual: Run) -> None:
    tools = builtin_tools()
    assert run_virtual(tools.call("calculate", {"expression": "17 * 23 + 4"}))["value"] == 395
    assert run_virtual(tools.call("calculate", {"expression": "2 ** 0.5"}))["value"] == 2**0.5
    for evil in ("__import__('os')", "(1).__class__", "9 ** 9 ** 9", "x + 1", "True + 1"):
        assert "error" in run_virtual(tools.call("calculate", {"expression": evil})), evil


def test_calculate_refuses_huge_numbers_before_computing_them(run_virtual: Run) -> None:
    tools = builtin_tools()
    # Each power alone passes the exponent limit; nested, they would take minutes and
    # stall the event loop. They must be refused at once instead.
    for huge in ("((((9**100)**100)**100)**100)", "(2**4000)*(2**4000)", "-(10**999)**10"):
        assert "too large" in run_virtual(tools.call("calculate", {"expression": huge}))["error"]
    assert "error" in run_virtual(tools.call("calculate", {"expression": "1/0"}))
    assert "error" in run_virtual(tools.call("calculate", {"expression": "10.0 ** 400"}))
    # Exact integers beyond 64 bits come back as decimal strings (JSON numbers overflow).
    assert run_virtual(tools.call("calculate", {"expression": "2 ** 100"}))["value"] == str(2**100)


def test_builtin_current_time(run_virtual: Run) -> None:
    tools = builtin_tools()
    result = run_virtual(tools.call("current_time", {"timezone": "Asia/Tokyo"}))
    assert result["iso"].endswith("+09:00")
    assert (
        "unknown time zone"
        in run_virtual(tools.call("current_time", {"timezone": "Mars/Base"}))["error"]
    )
    assert run_virtual(tools.call("current_time", {}))["timezone"] == "UTC"


def test_behavior_is_declared_and_scheduling_goes_only_with_non_blocking_results() -> None:
    tools = registry()
    add = tools.get("add")
    assert add is not None and "behavior" not in add.declaration()  # the model's default
    assert add.response_scheduling({"result": 1}) is None
    add = tools.configure("add", behavior="NON_BLOCKING", scheduling="SILENT")
    assert add.declaration()["behavior"] == "NON_BLOCKING"
    assert add.response_scheduling({"result": 1}) == "SILENT"
    # A failure is never silent: the model said it would do something and should say why not.
    assert add.response_scheduling({"error": "no"}) == "WHEN_IDLE"
    add = tools.configure("add", behavior="BLOCKING")
    assert add.scheduling == "SILENT" and add.response_scheduling({"result": 1}) is None
    with pytest.raises(ToolError, match="no tool named 'sub'"):
        tools.configure("sub", behavior="BLOCKING")


def tools_section(**values: Any) -> BridgeConfig:
    return BridgeConfig().with_overrides(tools=values)


def test_tools_section_applies_overrides_to_a_copy() -> None:
    tools = builtin_tools()
    config = tools_section(
        behavior=("calculate=NON_BLOCKING", "post_message=NON_BLOCKING"),
        scheduling=("calculate=INTERRUPT",),
        disabled=("current_time", "list_participants"),
    )
    # The Telegram tools are not offered here: naming them is not an error.
    applied = config.tools.apply(tools, known=BRIDGE_TOOL_NAMES)
    assert [tool.name for tool in applied] == ["calculate"]
    calculate = applied.get("calculate")
    assert calculate is not None and calculate.behavior == "NON_BLOCKING"
    assert calculate.scheduling == "INTERRUPT"
    assert len(tools) == 2 and tools.get("calculate").behavior == "BLOCKING"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BRIDGE_TOOLS_BEHAVIOR": "calculate"}, "tools.behavior: entry 'calculate' must be NAME="),
        ({"BRIDGE_TOOLS_BEHAVIOR": "calculate=FAST"}, "tools.behavior: entry 'calculate=FAST'"),
        ({"BRIDGE_TOOLS_BEHAVIOR": "a=BLOCKING,a=NON_BLOCKING"}, "tool 'a' is named twice"),
        ({"BRIDGE_TOOLS_SCHEDULING": "x y=SILENT"}, "tools.scheduling: entry 'x y=SILENT'"),
        ({"BRIDGE_TOOLS_DISABLED": "bad name"}, "tools.disabled: entry 'bad name' is not"),
        ({"BRIDGE_TOOLS_SLOW_NOTICE_S": "-1"}, "tools.slow_notice_s: must be in"),
        ({"BRIDGE_TOOLS_POST_MAX_CHARS": "5000"}, "tools.post_max_chars: must be in"),
    ],
)
def test_bad_tools_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        BridgeConfig.load(env=env)
    assert message in str(info.value) and "$BRIDGE_TOOLS_" in str(info.value)


@pytest.mark.parametrize("key", ["behavior", "scheduling", "disabled"])
def test_a_tool_the_bridge_does_not_have_is_named(key: str) -> None:
    value = "cacl=SILENT" if key == "scheduling" else "cacl=BLOCKING"
    config = tools_section(**{key: ("cacl" if key == "disabled" else value,)})
    with pytest.raises(ConfigError, match=f"tools.{key}: no tool named 'cacl'; tools: "):
        config.tools.apply(builtin_tools(), known=BRIDGE_TOOL_NAMES)
