"""The verifiers adapter against the real library: a rollout through its own machinery.

verifiers' harness program streams its requests (``stream: true``) through the interception
server, which relays the stream upstream, so the scripted server here answers with
server-sent events; tests/chat_server.py answers whole JSON bodies only.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import gymnasium as gym
import pytest

pytest.importorskip("verifiers.v1", reason="needs the [verifiers] extra (verifiers==0.4.0)")

from iapo_bench.adapters.verifiers import (
    IAPOTask,
    IAPOTaskset,
    IAPOTasksetConfig,
    make_agent,
    replay,
)
from iapo_bench.envs import load_task


class StreamingChatServer:
    """A scripted OpenAI-compatible server that streams: a call first, then an answer."""

    def __init__(self, call: tuple[str, dict[str, Any]], answer: str) -> None:
        self.call, self.answer = call, answer
        self.bodies: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.bodies.append(body)
                answered = any(m.get("role") == "tool" for m in body["messages"])
                events = server.events(body["model"], answered)
                if body.get("stream"):
                    payload = b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events)
                    payload += b"data: [DONE]\n\n"
                    kind = "text/event-stream"
                else:
                    payload, kind = (
                        json.dumps(server.whole(body["model"], answered)).encode(),
                        ("application/json"),
                    )
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _message(self, answered: bool) -> dict[str, Any]:
        if answered:
            return {"role": "assistant", "content": self.answer}
        name, arguments = self.call
        call = {"id": "call_0", "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)}}  # fmt: skip
        return {"role": "assistant", "content": None, "tool_calls": [call]}

    def events(self, model: str, answered: bool) -> list[dict[str, Any]]:
        message = self._message(answered)
        head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": model}  # fmt: skip
        delta: dict[str, Any] = {"role": "assistant", "content": message["content"]}
        if "tool_calls" in message:
            delta["tool_calls"] = [{"index": 0, **message["tool_calls"][0]}]
        reason = "tool_calls" if "tool_calls" in message else "stop"
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        return [
            {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
            {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]},
            {**head, "choices": [], "usage": usage},
        ]

    def whole(self, model: str, answered: bool) -> dict[str, Any]:
        message = self._message(answered)
        reason = "tool_calls" if "tool_calls" in message else "stop"
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
                "model": model, "choices": [{"index": 0, "message": message,
                "finish_reason": reason}], "usage": {"prompt_tokens": 10, "completion_tokens": 5,
                "total_tokens": 15}}  # fmt: skip

    def __enter__(self) -> StreamingChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def first_task(env_id: str) -> IAPOTask:
    config = IAPOTasksetConfig(env_id=env_id, split="validation", size=1)
    return next(iter(IAPOTaskset(config)))


def test_taskset_prompts_carry_the_image_question_and_tool_schemas():
    task = first_task("ToolUse-Chart-v0")
    data = task.data
    loaded = load_task(data.task_id)
    assert task.key == data.task_id == "chart/v0/validation/d0/1000000000"
    parts = data.prompt[0].content
    assert parts[0].image_url.url.startswith("data:image/png;base64,")
    assert parts[1].text == loaded.question
    assert "<tools>" in data.system_prompt and '"name": "zoom"' in data.system_prompt
    # The env's own first prompt: its system message, and the image then the question.
    env = gym.make("ToolUse-Chart-v0")
    _, info = env.reset(options={"task_id": data.task_id})
    env.close()
    system, user = info["messages"]
    assert data.system_prompt == system["content"]
    assert [p.type for p in parts] == ["image_url", "text"]
    assert [p["type"] for p in user["content"]] == ["image", "text"]


def test_taskset_selection_is_the_adapters_and_the_test_split_its_frozen_list():
    from iapo_bench.adapters.trl import task_ids
    from iapo_bench.envs import get_family

    config = IAPOTasksetConfig(env_id="ToolUse-OCR-v0", split="validation", size=3, seed=4)
    assert [t.key for t in IAPOTaskset(config)] == task_ids(
        "ToolUse-OCR-v0", split="validation", size=3, seed=4
    )
    frozen = IAPOTasksetConfig(env_id="ToolUse-OCR-v0", size=2)  # split defaults to test
    assert [t.key for t in IAPOTaskset(frozen)] == list(
        get_family("ocr").frozen_test_list().task_ids[:2]
    )
    with pytest.raises(ValueError, match="frozen test list"):
        list(IAPOTaskset(IAPOTasksetConfig(env_id="ToolUse-OCR-v0", size=2, seed=5)))


def test_replay_scores_answers_and_truncation_with_the_env_rubric():
    from verifiers.v1 import AssistantMessage, ToolCall

    data = first_task("ToolUse-OCR-v0").data
    answer = load_task(data.task_id).answer
    call = ToolCall(id="c", name="zoom", arguments=json.dumps({"box": [0, 0, 40, 40]}))
    answered = AssistantMessage(content=f"<answer>{answer}</answer>")
    total, parts = replay(data, [AssistantMessage(tool_calls=[call]), answered])
    assert total == 1.0 and parts["exact_match"] == 1.0
    total, _ = replay(data, [AssistantMessage(tool_calls=[call])])  # no answer: truncated
    assert total == 0.0
    two = AssistantMessage(tool_calls=[call, call])  # one action a turn, as the env scores it
    _, parts = replay(data, [two, AssistantMessage(content=f"<answer>{answer}</answer>")])
    assert parts["exact_match"] == 1.0
    counted = data.model_copy(update={"rubric": "exact_match:1,parse_error_several_actions:0"})
    _, parts = replay(counted, [two, AssistantMessage(content=f"<answer>{answer}</answer>")])
    assert parts["parse_error_several_actions"] == 1.0


def test_scores_are_replayed_once_per_rollout_and_kept_in_bounded_memory(monkeypatch):
    from verifiers.v1 import AssistantMessage

    from iapo_bench.adapters import verifiers as adapter

    task = first_task("ToolUse-OCR-v0")
    replays = []
    real = adapter._replay_actions

    def counted(data, texts):
        replays.append(texts)
        return real(data, texts)

    monkeypatch.setattr(adapter, "_replay_actions", counted)

    def trace(text):
        return types.SimpleNamespace(id=text, assistant_messages=[AssistantMessage(content=text)])

    answer = load_task(task.data.task_id).answer
    right = trace(f"<answer>{answer}</answer>")
    assert asyncio.run(task.iapo_components(right)) == {"iapo/exact_match": 1.0}
    assert asyncio.run(task.iapo_rubric(right)) == 1.0
    assert len(replays) == 1  # the metric and the reward read one replay
    for index in range(IAPOTask.SCORES_KEPT + 10):  # a long run
        assert asyncio.run(task.iapo_rubric(trace(f"<answer>x{index}</answer>"))) == 0.0
    assert len(task._scores) == IAPOTask.SCORES_KEPT
    assert asyncio.run(task.iapo_rubric(right)) == 1.0  # dropped long ago: replayed again
    assert len(replays) == IAPOTask.SCORES_KEPT + 12


def test_a_rollout_through_verifiers_runs_our_tool_server_and_scores_with_our_rubric(tmp_path):
    task = first_task("ToolUse-Chart-v0")
    answer = load_task(task.data.task_id).answer
    zoom = ("zoom", {"box": [0, 0, 120, 90], "factor": 2})
    with StreamingChatServer(zoom, f"The chart says so.\n<answer>{answer}</answer>") as server:
        agent = make_agent("scripted", base_url=server.base_url)

        async def main():
            async with agent:
                return await agent.run(task)

        trace = asyncio.run(main())
    assert trace.ok, trace.errors
    # The model saw our tools, under their own names and schemas.
    offered = {tool["function"]["name"]: tool["function"] for tool in server.bodies[0]["tools"]}
    assert "zoom" in offered and offered["zoom"]["parameters"]["properties"]["box"]["maxItems"] == 4
    # The zoom ran in our tool server and its image came back into the conversation.
    tool_message = next(m for m in server.bodies[1]["messages"] if m["role"] == "tool")
    assert "Zoomed into [0, 0, 120, 90]" in json.dumps(tool_message)
    assert any(part.get("type") == "image_url" for part in tool_message["content"]), tool_message
    assert trace.reward == pytest.approx(1.0)
    assert trace.metrics["iapo/relaxed_accuracy"] == 1.0
