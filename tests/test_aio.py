"""The loop thread and the retrying requester shared by the LLM judge and the endpoint policy."""

import asyncio
import gc
import importlib
import logging
import pickle
import random
import subprocess
import sys

import pytest

from iapo_bench.aio import (
    MAX_ERROR_CHARS,
    BadReply,
    Endpoint,
    LoopThread,
    Requester,
    backoff_delay,
    describe_failure,
    is_retryable,
    retry_after,
    status_code,
)

URL = "http://127.0.0.1:9/v1/chat/completions"


def _httpx():
    """The HTTP library the openai client is built on (httpx, or its fork httpx2)."""
    for name in ("httpx2", "httpx"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    pytest.skip("no httpx")


def status_error(status: int, headers: dict[str, str] | None = None) -> Exception:
    """The openai client's exception for an HTTP error reply."""
    openai = pytest.importorskip("openai")
    httpx = _httpx()
    request = httpx.Request("POST", URL)
    response = httpx.Response(status, headers=headers or {}, request=request)
    classes = {400: openai.BadRequestError, 401: openai.AuthenticationError}
    classes |= {404: openai.NotFoundError, 409: openai.ConflictError}
    classes |= {422: openai.UnprocessableEntityError, 429: openai.RateLimitError}
    error_class = classes.get(status, openai.InternalServerError if status >= 500 else None)
    if error_class is None:
        return openai.APIStatusError(f"status {status}", response=response, body=None)
    return error_class(f"status {status}", response=response, body=None)


def connection_error(timeout: bool = False) -> Exception:
    openai = pytest.importorskip("openai")
    request = _httpx().Request("POST", URL)
    if timeout:
        return openai.APITimeoutError(request=request)
    return openai.APIConnectionError(request=request)


# -- the retry policy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        *[(status, True) for status in (408, 409, 429, 500, 503)],
        *[(status, False) for status in (400, 401, 403, 404, 413, 422)],
    ],
)
def test_which_http_errors_are_retried(status, retryable):
    failure = status_error(status)
    assert status_code(failure) == status
    assert is_retryable(failure) is retryable


def test_which_other_failures_are_retried():
    assert is_retryable(connection_error()) and is_retryable(connection_error(timeout=True))
    assert is_retryable(TimeoutError()) and is_retryable(ConnectionRefusedError())
    assert is_retryable(BadReply("no choices")) and is_retryable(ValueError("bad JSON"))
    assert not is_retryable(RuntimeError("a bug")) and not is_retryable(KeyError("x"))
    assert status_code(RuntimeError()) is None


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-4"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_the_servers_wish(headers, seconds):
    now = 1445412480.0  # 2015-10-21 07:28:00 GMT
    assert retry_after(status_error(429, headers), now=now) == seconds


def test_the_delay_is_the_backoff_or_a_longer_retry_after_capped():
    requester = Requester(backoff=0.1, max_retry_after=2.0)
    plain = RuntimeError("no headers")
    for attempt in (1, 2, 3):
        assert 0.05 * 2 ** (attempt - 1) <= requester.delay(attempt, plain) < 0.15 * 2**attempt
    assert requester.delay(1, status_error(429, {"retry-after": "1"})) == 1.0
    assert requester.delay(1, status_error(429, {"retry-after": "600"})) == 2.0
    assert requester.delay(1, status_error(429, {"retry-after": "0"})) < 0.15  # backoff wins


def test_backoff_jitters_around_the_doubling():
    rng = random.Random(0)
    delays = [backoff_delay(1.0, 3, rng) for _ in range(200)]
    assert min(delays) >= 2.0 and max(delays) < 6.0 and len(set(delays)) == 200


def test_a_failure_is_described_on_one_bounded_line():
    assert describe_failure(TimeoutError(), timeout=2.5) == "no reply within 2.5 s"
    assert describe_failure(connection_error(timeout=True), timeout=3) == "no reply within 3 s"
    try:
        raise connection_error() from ConnectionRefusedError("Connection refused")
    except Exception as failure:
        text = describe_failure(failure, timeout=1)
    assert (
        text == "APIConnectionError: Connection error. (ConnectionRefusedError: Connection refused)"
    )
    long = describe_failure(ValueError("a\nb " + "x" * 2_000), timeout=1)
    assert long.startswith("ValueError: a b x") and len(long) == MAX_ERROR_CHARS
    assert "\n" not in long and long.endswith("...")


# -- calls -------------------------------------------------------------------------------------


def flaky(failures):
    """Work that raises each of ``failures`` in turn, then returns how many tries it took."""
    tries = []

    async def work():
        tries.append(1)
        if len(tries) <= len(failures):
            raise failures[len(tries) - 1]
        return len(tries)

    return work, tries


def test_retryable_failures_are_retried_until_one_succeeds():
    requester = Requester(retries=3, backoff=0.0)
    work, tries = flaky([connection_error(), status_error(503), BadReply("empty")])
    result = asyncio.run(requester.call(work))
    assert result.ok and result.value == 4 and result.attempts == 4 and len(tries) == 4
    assert result.error is None and result.failure is None and result.latency_s >= 0


def test_every_attempt_failing_gives_the_last_error_and_the_count():
    requester = Requester(retries=2, backoff=0.0)
    work, tries = flaky([status_error(500)] * 5)
    result = asyncio.run(requester.call(work))
    assert not result.ok and result.value is None and len(tries) == 3
    assert result.error == "InternalServerError: status 500 (after 3 attempts)"
    assert status_code(result.failure) == 500


def test_a_timeout_counts_as_a_failed_attempt():
    async def hang():
        await asyncio.sleep(10)

    result = asyncio.run(Requester(retries=1, backoff=0.0, timeout=0.05).call(hang))
    assert result.attempts == 2 and result.error == "no reply within 0.05 s (after 2 attempts)"


@pytest.mark.parametrize(("failure", "logged"), [("bad request", False), ("bug", True)])
def test_other_failures_are_not_retried_and_bugs_are_logged(failure, logged, caplog):
    error = status_error(400) if failure == "bad request" else RuntimeError("a bug")
    work, tries = flaky([error])
    with caplog.at_level(logging.WARNING, logger="iapo_bench.aio"):
        result = asyncio.run(Requester(retries=3, backoff=0.0).call(work))
    assert len(tries) == 1 and result.error.endswith("(after 1 attempt)")
    assert ("unexpected failure" in caplog.text) is logged


def test_concurrency_bounds_the_work_in_flight():
    requester = Requester(concurrency=3)
    in_flight, most = 0, 0

    async def work():
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1

    async def many():
        await asyncio.gather(*(requester.call(work) for _ in range(10)))

    asyncio.run(many())
    assert most == 3


def test_a_client_and_a_semaphore_per_event_loop():
    pytest.importorskip("openai")
    requester = Requester(Endpoint(base_url="http://127.0.0.1:9/v1"))

    async def both():
        assert requester.client() is requester.client()
        return requester.client(), requester.semaphore()

    first, second = asyncio.run(both()), asyncio.run(both())
    assert first[0] is not second[0] and first[1] is not second[1]
    with pytest.raises(RuntimeError, match="no endpoint"):
        asyncio.run(asyncio.wait_for(_client_of(Requester()), 1))


async def _client_of(requester):
    return requester.client()


# -- the loop thread ---------------------------------------------------------------------------


async def answer():
    return 42


def test_run_works_with_and_without_a_running_loop():
    requester = Requester()
    assert requester.run(answer()) == 42

    async def inside():
        return requester.run(answer())  # sync, from a coroutine on another loop

    assert asyncio.run(inside()) == 42

    async def on_its_own_loop():
        return requester.run(answer())

    with pytest.raises(RuntimeError, match="own event loop"):
        requester.run(on_its_own_loop())
    requester.close()


def test_close_ends_the_thread_and_a_later_run_starts_anew():
    requester = Requester()
    requester.run(answer())
    first = requester.thread
    requester.close()
    assert requester.thread is None and not first.is_alive()
    assert requester.run(answer()) == 42 and requester.thread is not first
    requester.close()
    requester.close()  # safe to repeat


def test_a_requester_dropped_without_close_ends_its_thread():
    requester = Requester()
    requester.run(answer())
    thread = requester.thread
    del requester
    gc.collect()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_loop_thread_stops():
    runner = LoopThread(name="test loop")
    assert runner.run(answer()) == 42 and runner.thread.name == "test loop"
    runner.stop()
    runner.stop()
    assert not runner.thread.is_alive() and runner.loop.is_closed()


def test_a_requester_pickles_as_its_settings():
    requester = Requester(Endpoint(base_url="http://h/v1"), concurrency=2, retries=5, name="x")
    requester.run(answer())
    copy = pickle.loads(pickle.dumps(requester))
    assert copy.settings == requester.settings and copy.endpoint == requester.endpoint
    assert copy.name == "x" and copy.thread is None
    requester.close()


def test_the_module_works_without_openai():
    code = (
        "import asyncio, sys\n"
        "sys.modules['openai'] = None\n"
        "from iapo_bench.aio import Requester\n"
        "tries = []\n"
        "async def work():\n"
        "    tries.append(1)\n"
        "    if len(tries) < 2:\n"
        "        raise ConnectionError('refused')\n"
        "    return 'ok'\n"
        "r = Requester(backoff=0.0)\n"
        "print(r.run(r.call(work)).value)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
