import pytest

from iapo_bench.envs import get_family
from iapo_bench.leaderboard.tool_need import measure_tool_need, printed_answer

CHART = get_family("chart")
OCR = get_family("ocr")


def test_printed_answer_is_the_evidence_label_of_value_questions():
    seen = 0
    for seed in range(200):
        task = CHART.generate("train", 1, seed)
        element = printed_answer(task)
        if task.question_kind == "value":
            assert element is not None and element.kind in ("value_label", "cell"), task.id
            assert element.key == task.data["question_args"]["category"]
            seen += 1
        if task.question_kind in ("compare", "argmax", "argmin", "trend"):
            # The answer is a category (or a direction): no detail prints it.
            assert element is None, task.id
    assert seen >= 10


@pytest.mark.slow
def test_hard_chart_tasks_need_their_tools():
    """Over 200 hard value lookups, RapidOCR reads the printed answer in at most 5% of the
    images as shown and in at least 95% of the oracle's zooms."""
    report = measure_tool_need(CHART, difficulties=(2, 3), tasks=200, question_kinds=("value",))
    print(report.model_dump_json(indent=1))
    assert report.tasks == 200
    assert report.shown_rate <= 0.05, report.leaks
    assert report.tool_rate >= 0.95, report.misses


def test_printed_answer_of_an_ocr_task_is_its_field_value():
    for seed in range(24):
        task = OCR.generate("train", 1, seed)
        element = printed_answer(task)
        assert element is not None and element.kind == "value", task.id
        assert element.text == task.data["value"]


@pytest.mark.slow
def test_hard_ocr_tasks_need_their_tools():
    """Over 200 hard documents, RapidOCR reads the asked-for field in at most 5% of the
    images as shown and in at least 95% of the oracle's zooms."""
    report = measure_tool_need(OCR, difficulties=(2, 3), tasks=200)
    print(report.model_dump_json(indent=1))
    assert report.tasks == 200
    assert report.shown_rate <= 0.05, report.leaks
    assert report.tool_rate >= 0.95, report.misses
