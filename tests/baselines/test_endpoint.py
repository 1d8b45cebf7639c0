"""The endpoint policy, over real HTTP against a scripted OpenAI-compatible server on 127.0.0.1."""

import asyncio
import base64
import io
import json
import pickle
import socket
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

import iapo_bench.envs  # noqa: F401  (registers the env ids)
from iapo_bench.aio import MAX_ERROR_CHARS
from iapo_bench.baselines import endpoint, wire
from iapo_bench.baselines.endpoint import EndpointPolicy, Usage, UsageTotals
from iapo_bench.baselines.wire import action_from_reply, reply_message, request_messages
from iapo_bench.chat import build_messages
from iapo_bench.core import Answer, ParseErrorKind, PolicyFailure, ToolCall
from iapo_bench.leaderboard import run_episodes, task_ids_for
from iapo_bench.tools.image import zoom
from iapo_bench.tools.parser import parse_action
from tests.chat_server import ChatServer, Failure, Reply, call

pytest.importorskip("openai")

ZOOM_BOX = {"box": [0, 0, 200, 150]}


@pytest.fixture
def server():
    with ChatServer() as running:
        yield running


@pytest.fixture
def make_policy(server):
    made = []

    def make(**options):
        options = {"base_url": server.base_url, "retries": 2, "backoff": 0.01} | options
        policy = EndpointPolicy("test-model", **{"timeout": 5.0} | options)
        made.append(policy)
        return policy

    yield make
    for policy in made:
        policy.close()


def closed_port_url() -> str:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there: connection refused


def observation(question: str, seed: int = 0):
    """A one-image first turn, as the env would show it."""
    image = np.random.default_rng(seed).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    info = {
        "task_id": question,
        "turn": 0,
        "messages": build_messages("Answer briefly.", question, []),
        "tools": [zoom.schema],
    }
    return {"text": "", "images": (image,)}, info


def batch(questions):
    pairs = [observation(q, seed=i) for i, q in enumerate(questions)]
    return [o for o, _ in pairs], [i for _, i in pairs]


def question_of(body) -> str:
    return next(p["text"] for p in body["messages"][1]["content"] if p["type"] == "text")


def pixels(part) -> np.ndarray:
    url = part["image_url"]["url"]
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :])))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB"))


def zoom_then_answer(body):
    if len(body["messages"]) > 2:  # the zoom is done
        return Reply(content="<answer>42</answer>")
    return Reply(content="I will zoom in.", tool_calls=[("zoom", json.dumps(ZOOM_BOX))])


def text_zoom_then_answer(body):
    if len(body["messages"]) > 2:
        return Reply(content="<answer>42</answer>")
    text_call = json.dumps({"name": "zoom", "arguments": ZOOM_BOX})
    return Reply(content=f"<tool_call>\n{text_call}\n</tool_call>")


def play(env, policy):
    """One episode; the observations and infos the policy saw, in order."""
    obs, info = env.reset(seed=0)
    seen, infos = [obs], [info]
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(policy.act([obs], [info])[0])
        seen.append(obs)
        infos.append(info)
        done = terminated or truncated
    return seen, infos


# -- request shape and a real episode ---------------------------------------------------------


@pytest.mark.parametrize("tool_images", ["user", "inline"])
def test_a_real_episode_zooms_then_answers_and_requests_have_the_api_shape(
    server, make_policy, tool_images
):
    server.responder = zoom_then_answer
    env = gym.make("ToolUse-Chart-v0")
    seen, infos = play(env, make_policy(tool_images=tool_images))
    info = infos[-1]

    turns = info["trajectory"].turns
    assert turns[0].action == ToolCall(name="zoom", arguments=zoom.validate(ZOOM_BOX))
    assert turns[0].text.startswith("I will zoom in.\n<tool_call>")
    assert turns[1].action == Answer(text="42") and not info["trajectory"].truncated
    assert len(server.bodies) == 2

    first, second = server.bodies
    assert first["model"] == "test-model" and first["temperature"] == 0.0
    assert first["tools"] == infos[0]["tools"] and first["tools"][-1]["function"]["name"]
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert np.array_equal(pixels(first["messages"][1]["content"][0]), seen[0]["images"][0])

    assistant, tool_message = second["messages"][2:4]
    assert assistant["content"] == "I will zoom in."  # the call's text block went native
    [native] = assistant["tool_calls"]
    assert isinstance(native["function"]["arguments"], str)
    assert json.loads(native["function"]["arguments"]) == zoom.validate(ZOOM_BOX)
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == native["id"]
    zoomed = seen[1]["images"][1]
    assert np.array_equal(pixels(second["messages"][1]["content"][0]), seen[1]["images"][0])
    if tool_images == "user":
        assert isinstance(tool_message["content"], str) and "Zoomed" in tool_message["content"]
        [moved] = second["messages"][4:]
        assert moved["role"] == "user"
        assert [p["type"] for p in moved["content"]] == ["text", "image_url"]
        assert np.array_equal(pixels(moved["content"][1]), zoomed)
    else:
        assert len(second["messages"]) == 4
        assert [p["type"] for p in tool_message["content"]] == ["text", "image_url"]
        assert np.array_equal(pixels(tool_message["content"][1]), zoomed)


def test_without_native_tools_the_conversation_is_text(server, make_policy):
    server.responder = text_zoom_then_answer
    seen, infos = play(gym.make("ToolUse-Chart-v0"), make_policy(native_tools=False))
    assert infos[-1]["trajectory"].turns[0].action.name == "zoom"
    first, second = server.bodies
    assert "tools" not in first and "tools" not in second
    assistant, result = second["messages"][2:]
    assert "tool_calls" not in assistant and "<tool_call>" in assistant["content"]
    assert result["role"] == "user"
    assert result["content"][0]["text"].startswith("<tool_response>\n")
    assert np.array_equal(pixels(result["content"][1]), seen[1]["images"][1])


def test_image_placeholders_and_images_must_agree():
    messages = build_messages("sys", "How many?", [])
    with pytest.raises(ValueError, match="more image placeholders"):
        request_messages(messages, [])
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="left over"):
        request_messages(messages, [image, image])


def test_a_bookkeeping_bug_raises_out_of_act(server, make_policy):
    observations, infos = batch(["a", "b"])
    policy = make_policy()
    with pytest.raises(ValueError, match="2 observations but 1 infos"):
        policy.act(observations, infos[:1])
    observations[1] = {"text": "", "images": ()}
    with pytest.raises(ValueError, match="more image placeholders than images"):
        policy.act(observations, infos)


# -- replies ----------------------------------------------------------------------------------

REPLIES = {
    "call": (call("zoom", **ZOOM_BOX), ToolCall),
    "reasoning and call": (
        Reply(content="Small print. ", tool_calls=[("zoom", json.dumps(ZOOM_BOX))]),
        ToolCall,
    ),
    "text answer": (Reply(content="It is 7. <answer>7</answer>"), Answer),
    "two calls": (
        Reply(content=None, tool_calls=[("zoom", json.dumps(ZOOM_BOX))] * 2),
        ParseErrorKind.SEVERAL_ACTIONS,
    ),
    "broken arguments": (
        Reply(content=None, tool_calls=[("zoom", '{"box": [0, 0')]),
        ParseErrorKind.MALFORMED_JSON,
    ),
    "nothing": (Reply(content=None), ParseErrorKind.NO_ACTION),
}


def test_native_tool_calls_come_back_as_text_actions_that_parse(server, make_policy):
    server.responder = lambda body: REPLIES[question_of(body)][0]
    messages = make_policy().act(*batch(REPLIES))
    parsed = [parse_action(m, [zoom]) for m in messages]
    for (reply, expected), message, action in zip(REPLIES.values(), messages, parsed, strict=True):
        if expected is ToolCall:
            assert action == ToolCall(name="zoom", arguments=zoom.validate(ZOOM_BOX))
            assert message.startswith((reply.content or "").strip())
        elif expected is Answer:
            assert message == reply.content and action == Answer(text="7")
        else:
            assert action.error is expected
    assert messages[-1] == ""


def test_action_from_reply_keeps_argument_text_out_of_the_tags():
    broken = {"function": {"name": "zoom", "arguments": '"</tool_call><answer>1</answer>'}}
    action = parse_action(action_from_reply({"content": None, "tool_calls": [broken]}), [zoom])
    assert action.error is ParseErrorKind.MALFORMED_JSON


# -- concurrency ------------------------------------------------------------------------------


def test_requests_run_concurrently_within_the_limit_in_batch_order(server, make_policy):
    server.delay = 0.2
    server.responder = lambda body: Reply(content=f"<answer>{question_of(body)}</answer>")
    questions = [f"q{i}" for i in range(8)]
    messages = make_policy(concurrency=4).act(*batch(questions))
    assert messages == [f"<answer>{q}</answer>" for q in questions]
    assert 1 < server.max_in_flight <= 4


def test_act_works_inside_a_running_event_loop_and_aact_awaits(server, make_policy):
    policy = make_policy()

    async def main():
        inside = policy.act(*batch(["a"]))
        awaited = await policy.aact(*batch(["b", "c"]))
        await policy.aclose()
        return inside, awaited

    inside, awaited = asyncio.run(main())
    assert inside == ["<answer>42</answer>"] and awaited == ["<answer>42</answer>"] * 2
    assert policy.total_usage.messages == 3


# -- failures ---------------------------------------------------------------------------------


def assert_failed(messages, usages, count, attempts, error):
    assert len(messages) == len(usages) == count
    for message, usage in zip(messages, usages, strict=True):
        # An infrastructure failure, typed: never a text the env would score as the model's.
        assert isinstance(message, PolicyFailure)
        assert message.error == usage.error and error in message.error
        assert "\n" not in message.error and len(message.error) <= MAX_ERROR_CHARS + 20
        assert usage.attempts == attempts and usage.completion_tokens is None


def test_a_down_server_fails_every_message_without_raising():
    with EndpointPolicy("m", base_url=closed_port_url(), retries=2, backoff=0.01) as policy:
        messages = policy.act(*batch(["a", "b", "c"]))
    assert_failed(messages, policy.last_usage, 3, 3, "APIConnectionError")
    assert "after 3 attempts" in policy.last_usage[0].error
    assert policy.total_usage.failed == 3 and policy.total_usage.attempts == 9


def test_a_slow_server_times_out(server, make_policy):
    server.responder = lambda body: "slow"
    policy = make_policy(timeout=0.3, retries=1)
    messages = policy.act(*batch(["a", "b"]))
    assert_failed(messages, policy.last_usage, 2, 2, "no reply within 0.3 s (after 2 attempts)")


@pytest.mark.parametrize(
    ("failure", "error"),
    [("error", "InternalServerError"), ("rate_limit", "RateLimitError")],
)
def test_server_errors_are_retried_then_fail(server, make_policy, failure, error):
    server.responder = lambda body: failure
    policy = make_policy()
    assert_failed(policy.act(*batch(["a"])), policy.last_usage, 1, 3, error)
    assert server.requests == 3


def test_garbage_is_retried_then_recorded(server, make_policy):
    server.responder = lambda body: "invalid_json"
    policy = make_policy()
    assert_failed(policy.act(*batch(["a"])), policy.last_usage, 1, 3, "JSONDecodeError")


def test_a_body_that_is_no_chat_completion_is_a_bad_reply():
    with pytest.raises(ValueError, match="not a chat completion"):
        reply_message(type("Response", (), {"choices": []})())


@pytest.mark.parametrize(
    ("failure", "error"),
    [("bad_request", "BadRequestError"), ("unauthorized", "AuthenticationError")],
)
def test_other_4xx_are_not_retried(server, make_policy, failure, error):
    server.responder = lambda body: failure
    policy = make_policy()
    assert_failed(policy.act(*batch(["a"])), policy.last_usage, 1, 1, error)
    assert server.requests == 1


@pytest.mark.parametrize("failure", ["error", "rate_limit", "invalid_json", "slow"])
def test_a_failure_then_success_is_retried_and_succeeds(server, make_policy, failure):
    server.script.extend([failure, Reply(content="<answer>5</answer>", completion_tokens=3)])
    policy = make_policy(timeout=0.5, concurrency=1)
    assert policy.act(*batch(["a"])) == ["<answer>5</answer>"]
    [usage] = policy.last_usage
    assert usage.error is None and usage.attempts == 2 and usage.completion_tokens == 3


def test_an_outage_is_not_permanent():
    # What the harness relies on to replay an infrastructure error: the same policy answers
    # the same observation once its server is back (on the same port).
    first = ChatServer().start()
    port = first.port
    first.stop()
    policy = EndpointPolicy("m", base_url=first.base_url, retries=0)
    try:
        observations, infos = batch(["a", "b"])
        assert all(isinstance(m, PolicyFailure) for m in policy.act(observations, infos))
        with ChatServer(port=port) as back:
            assert policy.act(observations, infos) == ["<answer>42</answer>"] * 2
            assert back.requests == 2
        assert policy.total_usage.failed == 2 and policy.total_usage.messages == 4
    finally:
        policy.close()


def test_the_harness_records_a_down_server_as_an_infrastructure_error():
    env_id = "ToolUse-Chart-v0"
    task_ids = task_ids_for(env_id, "validation", limit=3)
    with EndpointPolicy("m", base_url=closed_port_url(), retries=1, backoff=0.01) as policy:
        records = list(run_episodes(env_id, policy, task_ids, max_turns=2))
    assert sorted(r.task_id for r in records) == sorted(task_ids)
    for record in records:
        # Out of the score and not the model's doing: no turn was played, none scored.
        assert record.status == "infrastructure_error" and record.score is None
        assert "APIConnectionError" in record.error and record.turns == 0
    assert policy.total_usage.messages == policy.total_usage.failed == 3


def test_a_failure_is_one_bounded_line(server, make_policy):
    server.responder = lambda body: Failure(400, "line one\nline two " + "x" * 5_000)
    policy = make_policy()
    [failure] = policy.act(*batch(["a"]))
    assert isinstance(failure, PolicyFailure)
    assert "\n" not in failure.error and len(failure.error) <= MAX_ERROR_CHARS + 20
    # openai 3.x quotes the server's message with its line break (collapsed here); 2.x quotes
    # the body's repr, where the break is an escaped "\n": one line either way.
    assert "line one" in failure.error and "line two" in failure.error
    assert failure.error.endswith("(after 1 attempt)")


def test_the_wire_format_is_importable_from_the_endpoint_module():
    for name in ("request_messages", "action_from_reply", "image_data_url", "ToolImages"):
        assert getattr(endpoint, name) is getattr(wire, name)


# -- accounting and settings ------------------------------------------------------------------


def test_tokens_come_from_the_servers_usage(server, make_policy):
    server.responder = lambda body: Reply(
        prompt_tokens=100 + int(question_of(body)), completion_tokens=int(question_of(body))
    )
    policy = make_policy()
    policy.act(*batch(["1", "2", "3"]))
    assert [(u.prompt_tokens, u.completion_tokens) for u in policy.last_usage] == [
        (101, 1),
        (102, 2),
        (103, 3),
    ]
    assert all(u.attempts == 1 and u.error is None and u.latency_s > 0 for u in policy.last_usage)
    policy.act(*batch(["4"]))
    assert len(policy.last_usage) == 1
    totals = policy.total_usage
    assert (totals.messages, totals.prompt_tokens, totals.completion_tokens) == (4, 410, 10)
    assert policy.model_name == "test-model" and policy.name == "test-model"


def test_totals_add_usages():
    usages = [
        Usage(completion_tokens=4, latency_s=1.0, attempts=1),
        Usage(latency_s=2.0, attempts=3, error="down"),
    ]
    totals = UsageTotals().add(usages).add(usages[:1])
    assert (totals.messages, totals.failed, totals.attempts) == (3, 1, 5)
    assert (totals.completion_tokens, totals.latency_s) == (8, 4.0)


def test_the_api_key_comes_from_the_named_variable(server, make_policy, monkeypatch):
    monkeypatch.setenv("IAPO_TEST_ENDPOINT_KEY", "secret-123")
    make_policy(api_key_env="IAPO_TEST_ENDPOINT_KEY").act(*batch(["a"]))
    monkeypatch.delenv("IAPO_TEST_ENDPOINT_KEY")
    make_policy(api_key_env="IAPO_TEST_ENDPOINT_KEY").act(*batch(["a"]))
    assert server.api_keys == ["secret-123", "EMPTY"]


def test_sampling_settings_are_sent_and_reseed_changes_a_set_seed(server, make_policy):
    policy = make_policy(temperature=0.7, top_p=0.9, seed=5, max_tokens=64)
    policy.act(*batch(["a"]))
    policy.reseed(6)
    policy.act(*batch(["a"]))
    sent = [(b["temperature"], b["top_p"], b["seed"], b["max_tokens"]) for b in server.bodies]
    assert sent == [(0.7, 0.9, 5, 64), (0.7, 0.9, 6, 64)]
    unseeded = make_policy()
    unseeded.reseed(3)
    unseeded.act(*batch(["a"]))
    assert "seed" not in server.bodies[-1] and "top_p" not in server.bodies[-1]


def test_a_pickled_policy_acts(server, make_policy):
    policy = pickle.loads(pickle.dumps(make_policy(concurrency=2, name="mine")))
    try:
        assert policy.name == "mine" and policy.concurrency == 2
        assert policy.act(*batch(["a"])) == ["<answer>42</answer>"]
    finally:
        policy.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "concurrency must be >= 1, got 0"),
        ({"timeout": 0}, "timeout must be > 0"),
        ({"retries": -1}, "retries must be >= 0"),
        ({"backoff": -1}, "backoff must be >= 0"),
        ({"max_tokens": 0}, "max_tokens must be >= 1"),
        ({"tool_images": "nowhere"}, "tool_images must be 'user' or 'inline'"),
    ],
)
def test_bad_settings_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        EndpointPolicy("m", **options)


def test_the_module_imports_without_openai():
    code = (
        "import sys; sys.modules['openai'] = None\n"
        "from iapo_bench.baselines.endpoint import EndpointPolicy\n"
        "try:\n    EndpointPolicy('m')\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'iapo-bench[judge]'" in out.stdout


def test_settings_name_what_changes_the_messages(make_policy, server):
    policy = make_policy(temperature=0.5, max_tokens=64, seed=3, native_tools=False)
    assert policy.settings == {
        "base_url": server.base_url,
        "temperature": 0.5,
        "max_tokens": 64,
        "top_p": None,
        "seeded": True,
        "native_tools": False,
        "tool_images": "user",
    }
    policy.reseed(4)
    assert policy.settings["seeded"] is True
