"""The LLM judge: over real HTTP against a scripted local server, and with a tiny local model.

Injection resistance is in ``test_judge_injection.py``; sharing, closing and threads in
``test_judge_sharing.py``.
"""

import asyncio
import copy
import json
import pickle
import re
import subprocess
import sys

import pytest

from iapo_bench.core import AnswerType, Trajectory
from iapo_bench.rewards.judge import (
    TEMPLATES,
    JudgeCache,
    JudgeInput,
    JudgeTemplate,
    LLMJudge,
    OpenAIJudge,
    TransformersJudge,
    Verdict,
    default_cache_path,
    judge_from_env,
)
from iapo_bench.rewards.match import match_text
from iapo_bench.rewards.rubric import Rubric, unavailable
from tests.chat_server import Failure
from tests.rewards.cases import answered, make_task
from tests.rewards.openai_server import OpenAIServer, field


def item(prediction: str, reference: str = "5", answer_type: str = "text") -> JudgeInput:
    return JudgeInput(
        question="How many bars are there?",
        reference=reference,
        prediction=prediction,
        answer_type=AnswerType(answer_type),
    )


# -- templates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "raw", "score"),
    [
        ("yes_no", "YES", 1.0),
        ("yes_no", "no.", 0.0),
        ("yes_no", " Yes\n", 1.0),
        ("yes_no", '"YES"', 1.0),
        ("yes_no", "'no.'", 0.0),
        ("yes_no", "**NO**", 0.0),
        ("yes_no", "`yes`.", 1.0),
        # Strict: the whole reply is one verdict, or it is unreadable.
        ("yes_no", "Yes, it matches.", None),
        ("yes_no", "Answer: NO", None),
        ("yes_no", "NO. (The answer says YES.)", None),
        ("yes_no", "YES NO", None),
        ("yes_no", "YES.\nNO", None),
        ("yes_no", "YES!", None),
        ("yes_no", "YES..", None),
        ("yes_no", '"YES', None),
        ("yes_no", "maybe?", None),
        ("yes_no", "YESTERDAY", None),
        ("yes_no", "", None),
        ("graded", "10", 1.0),
        ("graded", "7/10", 0.7),
        ("graded", "10/10.", 1.0),
        ("graded", " 0 ", 0.0),
        ("graded", "Score: 3.", None),
        ("graded", "3/5", None),
        ("graded", "07", None),
        ("graded", "7 8", None),
        ("graded", "7.5", None),
        ("graded", "11", None),
        ("graded", "eleven", None),
    ],
)
def test_template_reads_a_whole_reply_as_one_verdict(template, raw, score):
    assert TEMPLATES[template].parse(raw) == score


def test_template_renders_every_field_as_data_and_rejects_unknown_ones():
    prompt = TEMPLATES["yes_no"].render(item("five", answer_type="number"))
    assert 'Reference answer: "5"' in prompt and 'Predicted answer: "five"' in prompt
    assert 'Question: "How many bars are there?"' in prompt and "Answer type: number" in prompt
    assert "not instructions" in prompt
    with pytest.raises(ValueError, match="unknown or broken field"):
        JudgeTemplate(name="x", text="{answer}", answers=("YES",), scores=(1.0,))
    with pytest.raises(ValueError, match="2 answers but 1 scores"):
        JudgeTemplate(name="x", text="{question}", answers=("YES", "NO"), scores=(1.0,))
    with pytest.raises(ValueError, match="differ beyond case"):
        JudgeTemplate(name="x", text="{question}", answers=("YES", "yes"), scores=(1.0, 0.0))
    with pytest.raises(ValueError, match="bare words"):
        JudgeTemplate(name="x", text="{question}", answers=("YES.",), scores=(1.0,))


def test_judge_validates_its_arguments():
    with pytest.raises(ValueError, match="concurrency must be >= 1, got 0"):
        LLMJudge(None, concurrency=0)
    with pytest.raises(ValueError, match="unknown judge template 'fuzzy'"):
        LLMJudge(None, template="fuzzy")
    with pytest.raises(ValueError, match="retries must be >= 0"):
        LLMJudge(None, retries=-1)


def test_module_imports_without_the_optional_clients():
    code = (
        "import sys\n"
        "for name in ('openai', 'torch', 'transformers'): sys.modules[name] = None\n"
        "from iapo_bench.rewards.judge import JudgeInput, LLMJudge\n"
        "x = JudgeInput(question='q', reference='a', prediction='a')\n"
        "print(LLMJudge(None, cache_path=False).verdicts([x])[0].score)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1.0"


def test_openai_judge_without_the_client_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(ImportError, match=r"iapo-bench\[judge\]"):
        OpenAIJudge("judge-model")


# -- the endpoint judge, over HTTP --------------------------------------------------------------


@pytest.fixture
def server(monkeypatch):
    pytest.importorskip("openai")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a proxy must not see the local server
    with OpenAIServer() as running:
        yield running


@pytest.fixture
def make_judge(server):
    """An endpoint judge on ``server``; fast retries; no cache unless ``cache_path`` is given."""
    judges = []

    def make(**options):
        options = {"cache_path": False, "retries": 2, "backoff": 0.01, "timeout": 5.0} | options
        template = options.pop("template", "yes_no")
        backend = OpenAIJudge("judge-model", base_url=server.base_url)
        judges.append(LLMJudge(backend, template=template, **options))
        return judges[-1]

    yield make
    for judge in judges:
        judge.close()


def test_endpoint_judges_over_http(make_judge, server):
    judge = make_judge()
    verdicts = judge.verdicts([item("five"), item("6"), item("The Peru.", "peru")])
    # "five" is no exact match of "5": this score is the judge's, not the fallback's.
    assert [v.score for v in verdicts] == [1.0, 0.0, 1.0]
    assert [v.raw for v in verdicts] == ["YES", "NO", "YES"]
    assert not any(v.fallback or v.cached or v.error for v in verdicts)
    assert server.requests == 3
    sent = [field(prompt, "Predicted answer") for prompt in server.prompts]
    assert sorted(sent) == ["6", "The Peru.", "five"]


def test_graded_template_scores_a_tenth_of_the_reply(make_judge, server):
    judge = make_judge(template="graded")
    verdicts = judge.verdicts([item("five"), item("six")])
    assert [(v.score, v.raw) for v in verdicts] == [(1.0, "10"), (0.0, "0")]
    assert all("from 0 to 10" in prompt for prompt in server.prompts)


def test_identical_inputs_are_judged_once(make_judge, server):
    verdicts = make_judge().verdicts([item("five")] * 4 + [item("6")] * 3)
    assert [v.score for v in verdicts] == [1.0] * 4 + [0.0] * 3
    assert server.requests == 2


@pytest.mark.parametrize("concurrency", [1, 8])
def test_concurrency_bounds_the_requests_in_flight(make_judge, server, concurrency):
    server.delay = 0.05
    judge = make_judge(concurrency=concurrency)
    verdicts = judge.verdicts([item(str(n)) for n in range(12)])
    assert [v.score for v in verdicts] == [float(n == 5) for n in range(12)]
    assert server.requests == 12
    if concurrency == 1:
        assert server.max_in_flight == 1
    else:
        assert 1 < server.max_in_flight <= concurrency


@pytest.mark.parametrize(
    ("mode", "unavailable"), [("maybe", False), ("invalid_json", True), ("error", True)]
)
def test_broken_replies_are_retried_then_fall_back_flagged(
    make_judge, server, mode, unavailable, caplog
):
    server.mode = mode
    judge = make_judge(retries=2)
    # Exact match says 1 here, where a broken judge could only say 0: the score is the fallback's.
    verdict = judge.verdicts([item("Peru", "peru")])[0]
    assert server.requests == 3  # retries + 1
    assert verdict.fallback and verdict.score == 1.0 and not verdict.cached
    # A judge that replies unreadably was reached: only a broken server is unavailable.
    assert verdict.unavailable is unavailable
    assert verdict.error is not None and "after 3 attempts" in verdict.error
    if mode == "maybe":
        assert verdict.raw == "maybe?" and "unreadable judge output 'maybe?'" in verdict.error
    if mode == "error":
        assert "InternalServerError" in verdict.error
    assert "fell back to exact match" in caplog.text


def test_a_judge_that_replied_once_is_not_unavailable(make_judge, server):
    server.script.extend(["maybe", "error", "error"])
    verdict = make_judge(retries=2).verdicts([item("five")])[0]
    assert server.requests == 3
    assert verdict.fallback and not verdict.unavailable and "InternalServerError" in verdict.error


@pytest.mark.parametrize(
    ("failure", "unavailable"),
    [("bad_request", False), ("unauthorized", True), (Failure(422, "bad input"), False)],
)
def test_other_4xx_are_not_retried(make_judge, server, failure, unavailable):
    # A refused request (400, 413, 422) may be the answer's doing: not an infrastructure
    # error. A bad key (401) or an unknown model (404) is the configuration's: unavailable.
    server.script.append(failure)
    verdict = make_judge(retries=2).verdicts([item("five")])[0]
    assert server.requests == 1
    assert verdict.fallback and verdict.unavailable is unavailable
    assert verdict.error.endswith("(after 1 attempt)")


def test_a_rate_limit_is_retried(make_judge, server):
    server.script.extend([Failure(429, headers={"Retry-After": "0"}), "judge"])
    verdict = make_judge(retries=1).verdicts([item("five")])[0]
    assert server.requests == 2
    assert verdict == Verdict(score=1.0, raw="YES")


def test_a_retry_can_succeed(make_judge, server):
    server.script.extend(["error", "maybe"])
    verdict = make_judge(retries=2).verdicts([item("five")])[0]
    assert server.requests == 3
    assert verdict == Verdict(score=1.0, raw="YES")


def test_a_slow_judge_times_out_then_falls_back(make_judge, server):
    server.mode, server.slow_seconds = "slow", 5.0
    verdict = make_judge(timeout=0.2, retries=1).verdicts([item("five")])[0]
    assert server.requests == 2
    assert verdict.fallback and verdict.score == 0.0  # exact match: "five" is not "5"
    assert verdict.unavailable
    assert verdict.error == "no reply within 0.2 s (after 2 attempts)"


def test_a_down_judge_falls_back_without_raising(make_judge, server):
    judge = make_judge(retries=1)
    server.stop()
    verdicts = judge.verdicts([item("5"), item("five")])
    assert [(v.score, v.fallback, v.unavailable) for v in verdicts] == [
        (1.0, True, True),
        (0.0, True, True),
    ]
    assert all("APIConnectionError" in v.error for v in verdicts)
    assert judge(answered("5"), make_task("5")) == {
        "value": 1.0,
        "fallback": 1.0,
        "unavailable": 1.0,
    }


def test_cache_persists_across_judges_and_keeps_raw_outputs(make_judge, server, tmp_path):
    path = tmp_path / "judge.sqlite3"
    first = make_judge(cache_path=path).verdicts([item("five"), item("6")])
    assert server.requests == 2 and not any(v.cached for v in first)

    again = make_judge(cache_path=path).verdicts([item("five"), item("6"), item("4")])
    assert server.requests == 3  # only the new input
    assert [v.cached for v in again] == [True, True, False]
    assert [(v.score, v.raw) for v in again[:2]] == [(v.score, v.raw) for v in first]

    records = JudgeCache(path).records()
    assert [(r.input.prediction, r.raw, r.score) for r in records] == [
        ("five", "YES", 1.0),
        ("6", "NO", 0.0),
        ("4", "NO", 0.0),
    ]
    assert {r.judge for r in records} == {f"openai:judge-model@{server.base_url}"}
    assert {r.template_sha256 for r in records} == {TEMPLATES["yes_no"].sha256}

    # Another template is another question: judged anew.
    make_judge(cache_path=path, template="graded").verdicts([item("five")])
    assert server.requests == 4


def test_cache_key_covers_judge_template_and_input():
    yes_no, graded = TEMPLATES["yes_no"], TEMPLATES["graded"]
    edited = yes_no.model_copy(update={"text": yes_no.text + " Be strict."})
    base = JudgeCache.key("a", yes_no, item("five"))
    others = [
        JudgeCache.key("b", yes_no, item("five")),
        JudgeCache.key("a", graded, item("five")),
        JudgeCache.key("a", edited, item("five")),
        JudgeCache.key("a", yes_no, item("six")),
        JudgeCache.key("a", yes_no, item("five", reference="6")),
        JudgeCache.key("a", yes_no, item("five", answer_type="number")),
    ]
    assert base == JudgeCache.key("a", yes_no, item("five"))
    assert len({base, *others}) == len(others) + 1


def test_fallbacks_are_not_cached(make_judge, server, tmp_path):
    path = tmp_path / "judge.sqlite3"
    server.mode = "error"
    assert make_judge(cache_path=path, retries=0).verdicts([item("five")])[0].fallback
    assert len(JudgeCache(path)) == 0
    with pytest.raises(ValueError, match="never cached"):
        JudgeCache(path).put("j", TEMPLATES["yes_no"], item("x"), Verdict(score=0, fallback=True))

    server.mode = "judge"
    verdict = make_judge(cache_path=path).verdicts([item("five")])[0]
    assert verdict == Verdict(score=1.0, raw="YES")  # judged anew, now by the judge


def test_a_broken_cache_costs_no_verdict(make_judge, server, tmp_path, caplog):
    path = tmp_path / "judge.sqlite3"
    path.write_bytes(b"this is no SQLite database" * 100)
    judge = make_judge(cache_path=path)
    assert judge.verdicts([item("five")]) == [Verdict(score=1.0, raw="YES")]
    assert "unreadable" in caplog.text and "not written" in caplog.text


def test_a_closed_cache_reopens(make_judge, server, tmp_path):
    judge = make_judge(cache_path=tmp_path / "judge.sqlite3")
    judge.verdicts([item("five")])
    judge.cache.close()
    assert judge.verdicts([item("five")]) == [Verdict(score=1.0, raw="YES", cached=True)]


def test_default_cache_path_follows_the_package_rule(monkeypatch, tmp_path):
    monkeypatch.setenv("IAPO_BENCH_CACHE", str(tmp_path / "c"))
    assert default_cache_path() == tmp_path / "c" / "judge.sqlite3"
    monkeypatch.delenv("IAPO_BENCH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_path() == tmp_path / "x" / "iapo_bench" / "judge.sqlite3"


def test_judge_as_a_reward(make_judge, server):
    judge = make_judge()
    assert judge.name == judge.__name__ == "llm_judge"
    task = make_task("5", AnswerType.NUMBER)
    judged = {"fallback": 0.0, "unavailable": 0.0}
    assert judge(answered("five"), task) == {"value": 1.0, **judged}
    assert judge(answered("7"), task) == {"value": 0.0, **judged}
    assert server.requests == 2

    truncated = Trajectory(task_id=task.id, truncated=True)
    assert judge(truncated, task) == {"value": 0.0, **judged}
    assert server.requests == 2  # no answer: the judge is not asked


def test_judge_in_a_rubric_reports_its_fallback(make_judge, server):
    task = make_task("5", AnswerType.NUMBER)
    rubric = Rubric({"llm_judge": (make_judge(), 1.0)})
    assert rubric.score(answered("five"), task) == (
        1.0,
        {"llm_judge": 1.0, "llm_judge.fallback": 0.0, "llm_judge.unavailable": 0.0},
    )

    grouped = Rubric({"llm_judge": (make_judge().grouped, 1.0)})
    group = [answered("five"), answered("7"), Trajectory(task_id=task.id, truncated=True)]
    server.reset_counts()
    scores = grouped.score_group(group, task)
    assert [total for total, _ in scores] == [1.0, 0.0, 0.0]
    assert [c["llm_judge.fallback"] for _, c in scores] == [0.0, 0.0, 0.0]
    assert unavailable(scores[0][1]) == []
    assert server.requests == 2


def test_an_unavailable_judge_in_a_rubric_marks_the_episode(make_judge, server):
    judge = make_judge(retries=0)
    server.stop()
    total, components = Rubric({"llm_judge": (judge, 1.0)}).score(answered("5"), make_task("5"))
    assert total == 1.0 and unavailable(components) == ["llm_judge"]


def test_no_judge_configured_is_a_fallback_but_not_unavailable():
    with LLMJudge(None, cache_path=False) as judge:
        reward = judge(answered("5"), make_task("5"))
    assert reward == {"value": 1.0, "fallback": 1.0, "unavailable": 0.0}


def test_verdicts_works_inside_a_running_event_loop(make_judge, server):
    judge = make_judge()

    async def both():
        inside = judge.verdicts([item("five")])  # sync, from a coroutine
        awaited = await judge.averdicts([item("6")])
        return inside + awaited

    assert [v.score for v in asyncio.run(both())] == [1.0, 0.0]


def test_an_endpoint_judge_pickles_as_its_settings(make_judge, server, tmp_path):
    judge = make_judge(cache_path=tmp_path / "judge.sqlite3", template="graded", concurrency=3)
    judge.verdicts([item("five")])
    with pickle.loads(pickle.dumps(judge)) as copy:
        assert (copy.template, copy.concurrency, copy.retries) == (judge.template, 3, 2)
        assert copy.backend.name == judge.backend.name
        assert copy.verdicts([item("five"), item("six")]) == [
            Verdict(score=1.0, raw="10", cached=True),
            Verdict(score=0.0, raw="0"),
        ]
    assert server.requests == 2


def test_judge_from_env(monkeypatch, server):
    for name in ("MODEL", "BASE_URL", "API_KEY_ENV", "TEMPLATE"):
        monkeypatch.delenv(f"IAPO_BENCH_JUDGE_{name}", raising=False)
    with judge_from_env(cache_path=False) as unconfigured:
        verdict = unconfigured.verdicts([item("5")])[0]
    assert verdict == Verdict(score=1.0, fallback=True, error="no judge configured")

    monkeypatch.setenv("IAPO_BENCH_JUDGE_MODEL", "judge-model")
    monkeypatch.setenv("IAPO_BENCH_JUDGE_BASE_URL", server.base_url)
    monkeypatch.setenv("IAPO_BENCH_JUDGE_API_KEY_ENV", "MY_JUDGE_KEY")
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-test-123")
    monkeypatch.setenv("IAPO_BENCH_JUDGE_TEMPLATE", "graded")
    with judge_from_env(cache_path=False) as judge:
        assert judge.verdicts([item("five")])[0] == Verdict(score=1.0, raw="10")
    assert server.api_keys == ["sk-test-123"]

    monkeypatch.delenv("MY_JUDGE_KEY")
    with judge_from_env(cache_path=False) as judge:
        judge.verdicts([item("six")])
    assert server.api_keys[-1] == "EMPTY"  # what keyless local servers (vLLM) take


# -- the local judge: a tiny random model ------------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    """A trained word-level tokenizer (digits split: "10" is two tokens) and its vocabulary."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    words = "YES NO 0 1 2 3 4 5 6 7 8 9 Peru five six user assistant"
    corpus = [*(t.text for t in TEMPLATES.values()), words]
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    special = ["<pad>", "<unk>", "<eos>"]
    tokenizer.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=special))
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<eos>",
        padding_side="left",
    )


def tiny_model(tokenizer, kind: str = "llama", seed: int = 0):
    import torch
    import transformers

    torch.manual_seed(seed)
    size = {
        "vocab_size": len(tokenizer),
        "initializer_range": 0.3,  # sharp enough for inputs to differ
        "bos_token_id": tokenizer.eos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if kind == "gpt2":  # absolute positions: a padded row must keep its own
        config = transformers.GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=512, **size)
        return transformers.GPT2LMHeadModel(config)
    config = transformers.LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        **size,
    )
    return transformers.LlamaForCausalLM(config)


LOCAL_ITEMS = [item("five"), item("5"), item("Peru Peru six five 5 Peru"), item("6", "Peru")]
# Integers 0 to 10 are the graded template's verdicts: exact match scores them, unasked.
GRADED_ITEMS = [
    item("five"),
    item("5 bars"),
    item("Peru Peru six five 5 Peru"),
    item("six", "Peru"),
]


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_local_judge_scores_by_answer_probabilities(tiny, kind):
    backend = TransformersJudge(tiny_model(tiny, kind), tiny, batch_size=8)
    with LLMJudge(backend, cache_path=False) as judge:
        verdicts = judge.verdicts(LOCAL_ITEMS)
        assert judge.verdicts(LOCAL_ITEMS) == verdicts  # deterministic
    for verdict in verdicts:
        assert not verdict.fallback and verdict.error is None
        assert 0.0 <= verdict.score <= 1.0
        found = dict(re.findall(r"(YES|NO) p=(0\.\d{3}|1\.000)", verdict.raw))
        assert set(found) == {"YES", "NO"}
        assert verdict.score == pytest.approx(float(found["YES"]), abs=5e-4)
    assert len({v.score for v in verdicts}) > 1  # the input matters

    one_by_one = TransformersJudge(backend.model, tiny, batch_size=1)
    with LLMJudge(one_by_one, cache_path=False) as judge:
        alone = judge.verdicts(LOCAL_ITEMS)
    assert [v.score for v in alone] == pytest.approx([v.score for v in verdicts], abs=1e-5)


def test_local_judge_graded_scores_multi_token_answers(tiny):
    assert len(tiny("10", add_special_tokens=False)["input_ids"]) == 2  # the sequence path
    backend = TransformersJudge(tiny_model(tiny), tiny, batch_size=8)
    with LLMJudge(backend, template="graded", cache_path=False) as judge:
        verdicts = judge.verdicts(GRADED_ITEMS)
        [as_verdict] = judge.verdicts([item("5")])
    assert as_verdict.fallback and as_verdict.score == 1.0 and as_verdict.raw is None
    one_by_one = TransformersJudge(backend.model, tiny, batch_size=1)
    with LLMJudge(one_by_one, template="graded", cache_path=False) as judge:
        alone = judge.verdicts(GRADED_ITEMS)
    for verdict in verdicts:
        found = dict(re.findall(r"(\d+) p=(\d\.\d{3})", verdict.raw))
        assert set(found) == {str(n) for n in range(11)}
        assert sum(map(float, found.values())) == pytest.approx(1.0, abs=6e-3)
        expected = sum(int(n) * float(p) for n, p in found.items()) / 10
        assert verdict.score == pytest.approx(expected, abs=6e-3)
        assert not verdict.fallback
    assert [v.score for v in alone] == pytest.approx([v.score for v in verdicts], abs=1e-5)


def test_sequence_scoring_equals_next_token_scoring_for_one_token_answers(tiny):
    import torch

    backend = TransformersJudge(tiny_model(tiny), tiny)
    prompts = [TEMPLATES["yes_no"].render(x) for x in LOCAL_ITEMS]
    answers = [tiny(a, add_special_tokens=False)["input_ids"] for a in ("YES", "NO")]
    with torch.no_grad():
        log_p = backend._sequence_log_probs([backend._prompt_ids(p) for p in prompts], answers)
    by_sequence = torch.softmax(log_p.double(), dim=-1).tolist()
    by_next_token = backend.answer_probabilities(prompts, ["YES", "NO"])
    for got, want in zip(by_sequence, by_next_token, strict=True):
        assert got == pytest.approx(want, abs=1e-6)


def test_local_judge_uses_the_chat_template(tiny):
    chat = copy.deepcopy(tiny)
    chat.chat_template = (
        "{% for m in messages %}user : {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant :{% endif %}"
    )
    model = tiny_model(tiny)
    prompt = TEMPLATES["yes_no"].render(item("five"))
    ids = TransformersJudge(model, chat)._prompt_ids(prompt)
    user, assistant, colon = chat.convert_tokens_to_ids(["user", "assistant", ":"])
    assert ids[:2] == [user, colon] and ids[-2:] == [assistant, colon]
    assert TransformersJudge(model, tiny)._prompt_ids(prompt)[0] != user


def test_local_judge_name_and_cache(tiny, tmp_path):
    model = tiny_model(tiny)
    backend = TransformersJudge(model, tiny)
    assert backend.name == TransformersJudge(model, tiny).name  # a hash of the weights
    assert backend.name != TransformersJudge(tiny_model(tiny, seed=1), tiny).name
    assert TransformersJudge(model, tiny, name="my/judge").name == "transformers:my/judge"

    path = tmp_path / "judge.sqlite3"
    with LLMJudge(backend, cache_path=path) as judge:
        first = judge.verdicts(LOCAL_ITEMS[:2])
    with LLMJudge(TransformersJudge(model, tiny), cache_path=path) as judge:
        again = judge.verdicts(LOCAL_ITEMS[:2])
    assert all(v.cached for v in again)
    assert [v.raw for v in again] == [v.raw for v in first]
    assert [r.raw for r in JudgeCache(path).records(backend.name)] == [v.raw for v in first]


def test_local_judge_from_a_saved_folder(tiny, tmp_path):
    model = tiny_model(tiny)
    model.save_pretrained(tmp_path)
    tiny.save_pretrained(tmp_path)
    loaded = TransformersJudge.from_pretrained(str(tmp_path))
    assert loaded.name == f"transformers:{tmp_path}"
    prompts = [TEMPLATES["yes_no"].render(x) for x in LOCAL_ITEMS]
    want = TransformersJudge(model, tiny).answer_probabilities(prompts, ["YES", "NO"])
    got = loaded.answer_probabilities(prompts, ["YES", "NO"])
    for row, expected in zip(got, want, strict=True):
        assert row == pytest.approx(expected, abs=1e-6)


def test_match_text_is_the_fallback():
    # The fallback's contract, checked once here: exact match's score for the same strings.
    with LLMJudge(None, cache_path=False) as judge:
        inputs = [item("1,234.50", "1234.5", "number"), item("Peru", "Chile")]
        for verdict, x in zip(judge.verdicts(inputs), inputs, strict=True):
            assert verdict.score == match_text(x.prediction, x.reference, x.answer_type)
            assert verdict.fallback


# -- provenance --------------------------------------------------------------------------------


def test_provenance_names_what_a_verdict_depends_on(make_judge, server):
    judge = make_judge(template="graded", retries=1, timeout=2.0)
    provenance = json.loads(json.dumps(judge.provenance))  # JSON-ready, for metadata.json
    assert provenance["judge"] == f"openai:judge-model@{server.base_url}"
    assert provenance["backend"] == {
        "name": provenance["judge"],
        "model": "judge-model",
        "base_url": server.base_url,
        "temperature": 0.0,
        "max_tokens": 8,
    }
    assert provenance["template"] == "graded"
    assert provenance["template_sha256"] == TEMPLATES["graded"].sha256
    assert provenance["max_prediction_chars"] == TEMPLATES["graded"].max_prediction_chars
    assert (provenance["timeout_s"], provenance["retries"]) == (2.0, 1)
    assert judge.grouped.provenance == judge.provenance

    unconfigured = LLMJudge(None, cache_path=False).provenance
    assert unconfigured["judge"] is None and unconfigured["backend"] is None
    assert unconfigured["fallback"] == "exact_match"


def test_template_hash_covers_every_setting_but_the_name():
    graded = TEMPLATES["graded"]
    changes = [
        {"text": graded.text + " Be strict."},
        {"suffixes": ()},
        {"max_prediction_chars": 100},
        {"scores": tuple(reversed(graded.scores))},
    ]
    hashes = {graded.model_copy(update=change).sha256 for change in changes}
    assert len(hashes) == len(changes) and graded.sha256 not in hashes
    assert graded.model_copy(update={"name": "renamed"}).sha256 == graded.sha256
