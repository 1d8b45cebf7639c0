"""verifiers v1 (0.4) on any env id: a taskset, its tasks, a tool server, and an offline harness.

``import verifiers.v1 as vf`` runs a rollout as a harness program that talks to the model
through verifiers' interception server (an OpenAI-compatible endpoint upstream) and to the
task's tools over MCP; the task scores the finished trace. Here:

- :class:`IAPOTaskset`: the tasks of an env id (a split's seeds, the frozen test list or
  local files: :class:`IAPOTasksetConfig`), each prompt the env's own system message (the
  tools' schemas and the answer format) and a user message with the image (a PNG data URL)
  and the question.
- :class:`IAPOTask`: one task; its tool server is :class:`IAPOToolset`, and its reward is the
  env's rubric (``iapo_rubric``, every component also recorded as a metric), computed by
  replaying the trace's assistant messages through a fresh
  :class:`~iapo_bench.envs.ToolUseEnv` (every env is deterministic; :func:`replay`, the TRL
  adapter's scoring too).
- :class:`IAPOToolset`: an MCP server, one per rollout, that offers the task's tools under
  their own names and schemas; a call is stepped into the env, so it is validated and
  answered as in evaluation, and a result with an image comes back as text and image
  content (verifiers puts it in the tool message as an ``image_url`` part).
- :class:`LocalChatHarness`: verifiers' ``null`` chat program run with this Python, not
  provisioned with ``uv`` from the network (everything it imports is installed here).
- :func:`make_agent`: a ``vf.Agent`` for a model behind an OpenAI-compatible endpoint,
  placed in local subprocesses with that harness.

One action a turn: an assistant message with several tool calls runs them all in the tool
server (the model sees every result) but scores as the env scores it, a ``several_actions``
parse error. Needs the ``[verifiers]`` extra (``verifiers==0.4.0``).

Example (``examples/verifiers_rollout.py`` runs it against a local server)::

    agent = make_agent("my-model", base_url="http://127.0.0.1:8000/v1")
    config = IAPOTasksetConfig(env_id="ToolUse-OCR-v0", split="validation", size=1)
    task = next(iter(IAPOTaskset(config)))

    async def main():
        async with agent:
            return await agent.run(task)

    trace = asyncio.run(main())  # trace.rewards["iapo_rubric"], trace.metrics["iapo/..."]
"""

from __future__ import annotations

import base64
import json
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import verifiers.v1 as vf
from pydantic import Field, WithJsonSchema

from iapo_bench.adapters import _replay
from iapo_bench.adapters._replay import Score, make_env
from iapo_bench.chat import first_messages, parse_error_feedback, tool_result_text
from iapo_bench.core import ParseError, ToolCall
from iapo_bench.wire import image_data_url

__all__ = [
    "IAPOTask",
    "IAPOTaskData",
    "IAPOTaskset",
    "IAPOTasksetConfig",
    "IAPOToolset",
    "LocalChatHarness",
    "make_agent",
    "replay",
]


class IAPOTaskData(vf.TaskData):
    """One iapo-bench task on the wire: its id names it; the prompt is built from it."""

    task_id: str = Field(description="The task's id (load_task finds it in any process).")
    env_id: str = Field(description="The Gymnasium id that plays it.")
    max_turns: int = Field(default=4, description="Messages allowed (calls and the answer).")
    rubric: str | None = Field(
        default=None, description="A rubric spec, or None for the task's default."
    )


class IAPOTasksetConfig(vf.TasksetConfig):
    """Which tasks of which env id (``--env.taskset.*``)."""

    env_id: str = Field(default="ToolUse-Chart-v0", description="The Gymnasium id.")
    split: str = Field(default="test", description="train, validation or test.")
    size: int | None = Field(
        default=None, description="How many tasks (default: the whole test list, or 64)."
    )
    seed: int = Field(
        default=0, description="First seed index (train, validation: test is its frozen list)."
    )
    difficulty: int | None = Field(
        default=None, description="One level, or cycle them (not on the test split)."
    )
    source: str | None = Field(default=None, description="Local files, 'format:path'.")
    max_turns: int = Field(default=4, description="Messages allowed per episode.")
    rubric: str | None = Field(default=None, description="A rubric spec for every task.")


def _env(data: IAPOTaskData) -> Any:
    """A fresh env of the task's id (a file task's with its source); not reset."""
    return make_env(data.env_id, data.task_id, max_turns=data.max_turns, rubric=data.rubric)


def _reply(message: Any) -> dict[str, Any]:
    """A trace's assistant message as an OpenAI-format dict (what the replay reads)."""
    calls = [
        {"function": {"name": call.name, "arguments": call.arguments}}
        for call in message.tool_calls or []
    ]
    return {"role": "assistant", "content": message.content or "", "tool_calls": calls}


def replay(data: IAPOTaskData, messages: Iterable[Any]) -> Score:
    """The rubric's total and components of a rollout's assistant messages, replayed.

    Each message is one action, as the endpoint policy sends it to the env
    (:func:`~iapo_bench.wire.action_from_reply`); messages past the end of the episode are
    ignored, and an episode that runs out of messages is scored as truncated. A fresh env
    plays it (:mod:`iapo_bench.adapters._replay`, which the TRL adapter scores with too).
    """
    return _replay_actions(data, tuple(_replay.actions(_reply(m) for m in messages)))


def _replay_actions(data: IAPOTaskData, texts: tuple[str, ...]) -> Score:
    env = _env(data)
    try:
        return _replay.replay(env, data.task_id, texts)
    finally:
        env.close()


class IAPOTask(vf.Task[IAPOTaskData, vf.State, vf.TaskConfig]):
    """One task: its tools are :class:`IAPOToolset`'s; its reward is the env's rubric."""

    SCORES_KEPT: int = 64
    """Replayed scores kept (least recently used dropped): the reward and the metric of one
    rollout read the same replay, and a long run keeps memory flat."""

    def __init__(self, data: IAPOTaskData, config: vf.TaskConfig | None = None) -> None:
        super().__init__(data, config)
        self._scores: OrderedDict[tuple[str, ...], Score] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def key(self) -> str:
        """The task id: durable and unique, unlike the content hash of the prompt."""
        return self.data.task_id

    def _scored(self, trace: Any) -> Score:
        # Keyed by the actions themselves: the env is deterministic, so the same actions
        # score the same, and a trace rescored after it grew is replayed afresh.
        texts = tuple(_replay.actions(_reply(m) for m in trace.assistant_messages))
        with self._lock:
            score = self._scores.get(texts)
            if score is None:
                score = _replay_actions(self.data, texts)
                self._scores[texts] = score
                if len(self._scores) > self.SCORES_KEPT:
                    self._scores.popitem(last=False)
            else:
                self._scores.move_to_end(texts)
            return score

    @vf.reward(weight=1.0)
    async def iapo_rubric(self, trace: Any) -> float:
        """The env's rubric total for the rollout, replayed from its messages."""
        return self._scored(trace)[0]

    @vf.metric
    async def iapo_components(self, trace: Any) -> dict[str, float]:
        """Every rubric component (weight 0 ones too), as metrics named ``iapo/<name>``."""
        _, components = self._scored(trace)
        return {f"iapo/{k}": float(v) for k, v in components.items() if v is not None}

    @classmethod
    def toolsets(cls, config: vf.TaskConfig) -> list[vf.Toolset]:
        """The task's tool server, launched per rollout."""
        return [IAPOToolset(vf.ToolsetConfig())]


def _argument_schema(tool: Any, name: str) -> dict[str, Any]:
    return tool.schema["function"]["parameters"]["properties"][name]


class IAPOToolset(vf.Toolset[vf.ToolsetConfig]):
    """The task's tools as an MCP server: their own names, schemas and descriptions.

    The server learns its rollout's task (``setup_task``), resets an env on it and offers
    that task's tools. Arguments are passed to the env as given (the advertised schema is
    the tool's, but any JSON is accepted), so a bad call gets the env's own error message.
    """

    TOOL_PREFIX = None  # the model calls 'zoom', as in evaluation, not 'iapo_toolset_zoom'

    def __init__(self, config: vf.ToolsetConfig) -> None:
        super().__init__(config)
        self._env: Any = None
        self._tools: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    async def setup_task(self, task: Any) -> None:
        """Reset an env on the rollout's task."""
        # Run as `python -m`, this module is __main__: its IAPOTaskData is not the class the
        # task arrives as, so the data is read by value.
        fields = task.model_dump() if hasattr(task, "model_dump") else dict(task)
        data = IAPOTaskData.model_validate(fields)
        self._env = _env(data)
        _, info = self._env.reset(options={"task_id": data.task_id})
        self._tools = info["tools"]

    def register(self, mcp: Any) -> None:
        """Offer the task's tools."""
        from iapo_bench.envs import get_family

        if self._env is None:
            return
        family = get_family(self._env.unwrapped.family.name)
        offered = {schema["function"]["name"] for schema in self._tools}
        for tool in (t for t in family.tools if t.name in offered):
            mcp.add_tool(
                self._with_state(self._handler(tool)),
                name=tool.name,
                description=tool.description,
                structured_output=False,
            )

    def _handler(self, tool: Any) -> Any:
        import inspect

        from mcp.server.mcpserver.utilities.types import Image as McpImage

        def handler(**arguments: Any) -> list[Any]:
            with self._lock:
                return self._call(tool.name, arguments, McpImage)

        properties = tool.schema["function"]["parameters"]["properties"]
        required = set(tool.schema["function"]["parameters"]["required"])
        parameters = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if name in required else None,
                # Any value validates here: the env validates, and answers as in evaluation.
                annotation=_any(_argument_schema(tool, name)),
            )
            for name in properties
        ]
        handler.__name__ = tool.name
        handler.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        return handler

    def _call(self, name: str, arguments: Mapping[str, Any], image_type: Any) -> list[Any]:
        from iapo_bench.tools.parser import format_tool_call

        given = {k: v for k, v in arguments.items() if v is not None}
        self._env.step(format_tool_call(ToolCall(name=name, arguments=given)))
        turn = self._env.unwrapped.trajectory.turns[-1]
        if isinstance(turn.action, ParseError):
            return [parse_error_feedback(turn.action)]
        out: list[Any] = [tool_result_text(turn)]
        if turn.result is not None and turn.result.image is not None:
            png = base64.b64decode(image_data_url(turn.result.image).split(",", 1)[1])
            out.append(image_type(data=png, format="png"))
        return out


def _any(schema: Mapping[str, Any]) -> Any:
    """An annotation that accepts any JSON value but advertises ``schema``."""
    from typing import Annotated

    return Annotated[Any, WithJsonSchema(dict(schema))]


class IAPOTaskset(vf.Taskset[IAPOTask, IAPOTasksetConfig]):
    """The tasks of an env id, as verifiers loads them (``load``)."""

    def load(self) -> Iterable[IAPOTask]:
        """One task per id: the frozen test list (or ``size`` seeds of a split, or files)."""
        from iapo_bench.adapters.trl import task_ids
        from iapo_bench.envs import get_family, load_task

        config = self.config
        ids = task_ids(
            config.env_id,
            split=config.split,
            size=config.size,
            seed=config.seed,
            difficulty=config.difficulty,
            source=config.source,
        )
        for task_id in ids:
            task = load_task(task_id)
            family = get_family(task.family)
            tools = family.tools_for(task)
            system, user = first_messages(
                task.question, [t.schema for t in tools], family.prompt_style
            )
            # The env's user message, part for part: its one image placeholder is the task's.
            parts = [
                vf.ImageUrlContentPart(image_url=vf.ImageUrlSource(url=image_data_url(task.image)))
                if part["type"] == "image"
                else vf.TextContentPart(text=part["text"])
                for part in user["content"]
            ]
            prompt = [vf.UserMessage(content=parts)]
            yield IAPOTask(
                IAPOTaskData(
                    id=task_id,
                    name=task_id,
                    prompt=prompt,
                    system_prompt=system["content"],
                    task_id=task_id,
                    env_id=config.env_id,
                    max_turns=config.max_turns,
                    rubric=config.rubric,
                ),
                config.task,
            )


class LocalChatHarness(vf.Harness[vf.HarnessConfig]):
    """verifiers' ``null`` chat program (model turns and MCP tool calls), run with this Python.

    The built-in ``null`` harness provisions its program's dependencies with ``uv`` from the
    network; offline, the same program runs with the interpreter that runs verifiers, which
    has them all.
    """

    APPENDS_SYSTEM_PROMPT = True
    SUPPORTS_MCP = True
    SUPPORTS_RESUME = True
    SUPPORTS_TOOL_INTERCEPTION = True
    EXECUTES_CODE = False
    NEEDS_CONTAINER = False

    async def launch(
        self,
        ctx: Any,
        trace: Any,
        runtime: Any,
        endpoint: str,
        secret: str,
        mcp_urls: dict[str, str],
        data: Any,
        tool_interception_url: str | None = None,
    ) -> Any:
        """Run the chat program to the end of the rollout."""
        from verifiers.v1.dialects.chat import message_to_wire
        from verifiers.v1.harnesses.utils.launch import CHAT_PROGRAM_SOURCE

        system, prompt = self.resolve_prompt(data)
        args = [f"--base-url={endpoint}", f"--api-key={secret}", f"--model={ctx.model}"]
        if tool_interception_url:
            args.append(f"--tool-interception-url={tool_interception_url}")
        if system:
            args.append(f"--system-prompt={system}")
        if mcp_urls:
            servers = {
                name: {"url": url, "timeout": self.config.tool_timeout}
                for name, url in mcp_urls.items()
            }
            args.append("--mcp-config=" + json.dumps({"mcpServers": servers}))
        if isinstance(prompt, str):
            args.append(f"--prompt={prompt}")
        elif prompt is not None:
            path = f".vf-initial-messages-{trace.id}.json"
            payload = json.dumps([message_to_wire(message) for message in prompt])
            await runtime.write(path, payload.encode())
            args.append(f"--initial-messages-file={path}")
        program = f".vf-chat-program-{trace.id}.py"
        await runtime.write(program, CHAT_PROGRAM_SOURCE.encode())
        return await runtime.run_program(
            [sys.executable, program, *args], dict(self.config.resolved_env)
        )


def make_agent(
    model: str,
    *,
    base_url: str,
    api_key_var: str = "OPENAI_API_KEY",
    max_turns: int = 4,
    max_output_tokens: int | None = None,
) -> vf.Agent:
    """A ``vf.Agent`` for ``model`` at ``base_url``, in local subprocesses, fully offline.

    The harness is :class:`LocalChatHarness` and the runtime a subprocess (verifiers
    defaults to remote sandboxes); ``max_turns`` caps model turns as the env caps messages.
    """
    from verifiers.v1.clients import EvalClientConfig

    config = vf.AgentConfig(
        harness=vf.HarnessConfig(id="null"),
        runtime=vf.SubprocessConfig(),
        model=model,
        client=EvalClientConfig(base_url=base_url, api_key_var=api_key_var),
        max_turns=max_turns,
        max_output_tokens=max_output_tokens,
    )
    agent = vf.Agent(config)
    # Agents load harnesses by plugin id (a top-level module); this one is ours.
    agent.harness = LocalChatHarness(agent.harness.config)
    return agent


if __name__ == "__main__":  # verifiers launches a task's tool server as `python -m <module>`
    IAPOToolset.run()
