"""One LLM judge per configuration, shared by a run's envs, closed by the last; threads at once."""

import threading

import gymnasium as gym
import pytest

import iapo_bench.envs  # noqa: F401  (registers the env ids)
from iapo_bench.envs.env import ToolUseEnv
from iapo_bench.rewards.judge import JudgeInput, LLMJudge, OpenAIJudge, judge_from_env
from iapo_bench.rewards.rubric import Rubric, unavailable
from tests.rewards.openai_server import OpenAIServer

SPEC = "exact_match,llm_judge:0"


def item(prediction: str) -> JudgeInput:
    return JudgeInput(question="How many bars are there?", reference="5", prediction=prediction)


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A judging server that the environment names as the judge; verdicts cached in tmp_path."""
    pytest.importorskip("openai")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("IAPO_BENCH_CACHE", str(tmp_path / "cache"))
    with OpenAIServer() as running:
        monkeypatch.setenv("IAPO_BENCH_JUDGE_MODEL", "judge-model")
        monkeypatch.setenv("IAPO_BENCH_JUDGE_BASE_URL", running.base_url)
        for name in ("API_KEY_ENV", "TEMPLATE"):
            monkeypatch.delenv(f"IAPO_BENCH_JUDGE_{name}", raising=False)
        yield running


def is_closed(judge: LLMJudge) -> bool:
    """Whether the judge's loop thread, client and SQLite connection are all gone."""
    return judge.requester.thread is None and (judge.cache is None or judge.cache._db is None)


def test_one_configuration_one_judge_released_by_each_holder(server):
    first, second = judge_from_env(), judge_from_env()
    assert first is second
    assert judge_from_env(retries=1) is not first  # other options: another judge
    first.verdicts([item("five")])
    thread = first.requester.thread
    assert thread is not None and thread.is_alive()

    first.close()  # one holder gone: the other still judges
    assert not is_closed(second) and second.verdicts([item("five")])[0].score == 1.0
    second.close()  # the last: closed and forgotten
    assert is_closed(first) and not thread.is_alive()
    third = judge_from_env()
    assert third is not first
    third.close()


def test_a_closed_judge_reopens_when_used_again(server):
    judge = judge_from_env()
    judge.close()
    assert judge.verdicts([item("five")])[0].score == 1.0  # cached by then or judged anew
    judge.close()
    assert is_closed(judge)


def test_every_env_of_a_run_shares_the_judge_and_the_last_closes_it(server):
    envs = [gym.make("ToolUse-Chart-v0", rubric=SPEC) for _ in range(3)]
    rubrics = [env.unwrapped.rubric for env in envs]
    judges = {id(r.rewards["llm_judge"][0]) for r in rubrics}
    assert len(judges) == 1 and all(r.blocking for r in rubrics)
    judge = rubrics[0].rewards["llm_judge"][0]
    for env in envs:
        env.reset(seed=0)
        *_, info = env.step("<answer>five</answer>")
        assert unavailable(info["rewards"]) == [] and info["rewards"]["llm_judge.fallback"] == 0
    assert server.requests == 1  # one answer, judged once; then from the cache
    thread = judge.requester.thread
    for env in envs[:-1]:
        env.close()
        env.close()  # closing twice releases once
        assert not is_closed(judge)
    envs[-1].close()
    assert is_closed(judge) and not thread.is_alive()


def test_an_env_closes_only_a_rubric_it_built(server):
    judge = LLMJudge(OpenAIJudge("judge-model", base_url=server.base_url), cache_path=False)
    rubric = Rubric({"llm_judge": (judge, 1.0)})
    env = ToolUseEnv("chart", rubric=rubric)
    env.reset(seed=0)
    env.step("<answer>five</answer>")
    env.close()
    assert judge.requester.thread is not None  # the caller's to close
    rubric.close()
    rubric.close()
    assert is_closed(judge)


def test_blocking_says_whether_a_reward_waits_on_io():
    with LLMJudge(None, cache_path=False) as judge:
        assert Rubric({"llm_judge": (judge, 1.0)}).blocking
        assert Rubric({"llm_judge": (judge.grouped, 1.0)}).blocking
    assert not Rubric.parse("exact_match,format_valid:0.1").blocking
    Rubric.parse("exact_match").close()  # nothing to close: fine


def test_threads_judge_at_once(server):
    # The harness steps a batch's envs from threads: their judge calls must overlap.
    server.delay = 0.2
    judge = LLMJudge(
        OpenAIJudge("judge-model", base_url=server.base_url), concurrency=8, cache_path=False
    )
    predictions = ["five", "6", "5 bars", "four", "seven", "Five"]
    start = threading.Barrier(len(predictions))
    scores: dict[str, float] = {}

    def judge_one(prediction: str) -> None:
        start.wait()
        scores[prediction] = judge.verdicts([item(prediction)])[0].score

    threads = [threading.Thread(target=judge_one, args=(p,)) for p in predictions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    judge.close()
    assert scores == {"five": 1.0, "6": 0.0, "5 bars": 0.0, "four": 0.0, "seven": 0.0, "Five": 1.0}
    assert server.requests == len(predictions)
    assert server.max_in_flight > 1


def test_a_run_with_its_judge_down_records_infrastructure_errors(server):
    from iapo_bench.baselines import OracleAgent
    from iapo_bench.leaderboard import run_episodes, task_ids_for

    server.stop()  # the judge the environment names is down
    env_id = "ToolUse-Chart-v0"
    task_ids = task_ids_for(env_id, "validation", limit=2)
    records = list(run_episodes(env_id, OracleAgent(), task_ids, rubric=SPEC))
    assert len(records) == 2
    for record in records:
        assert record.status == "infrastructure_error" and record.score is None
        assert record.error == "llm_judge unavailable"
        assert record.rewards["llm_judge.fallback"] == record.rewards["llm_judge.unavailable"] == 1
