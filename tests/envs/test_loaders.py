"""Task sources from local files: each public layout, its tools and rubric, ids and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import iapo_bench  # noqa: F401  (registers the ids)
from iapo_bench.core import AnswerType
from iapo_bench.envs import load_task, parse_task_id
from iapo_bench.envs.loaders import SourceError, open_source, parse_spec
from iapo_bench.tools.parser import format_answer, format_tool_call
from tests.envs.public_formats import (
    pixels,
    write_chartqa,
    write_charxiv,
    write_docvqa,
    write_refocus,
    write_refocus_table,
    write_textvqa,
)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Each test's source index lives in its own folder."""
    monkeypatch.setenv("IAPO_BENCH_CACHE", str(tmp_path / "cache"))


def tool_names(info) -> list[str]:
    return [tool["function"]["name"] for tool in info["tools"]]


def call(name: str, **arguments) -> str:
    from iapo_bench.core import ToolCall

    return format_tool_call(ToolCall(name=name, arguments=arguments))


# --- ChartQA -----------------------------------------------------------------------------------


def test_chartqa_split_folder_plays_through_the_chart_env(tmp_path):
    folder = write_chartqa(tmp_path)
    env = gym.make("ToolUse-Chart-v0", source=f"chartqa:{folder}")
    obs, info = env.reset(seed=0)
    family, version, split, difficulty, index = parse_task_id(info["task_id"])
    assert (family, split, difficulty, index) == ("chart", "test", 0, 0)
    assert version == open_source(f"chartqa:{folder}").version
    # The shown image is the file's image; ChartQA records no boxes: crop and zoom only.
    assert np.array_equal(obs["images"][0], pixels(folder / "png" / "100.png"))
    assert tool_names(info) == ["crop", "zoom"]
    assert "What were the sales in 2020?" in obs["text"]
    _, reward, terminated, _, info = env.step(format_answer("51"))
    # ChartQA's relaxed accuracy (5%), the format's rubric.
    assert terminated and reward == 1.0 and info["rewards"]["exact_match"] == 0.0


def test_chartqa_reads_human_then_augmented_tables_and_subsets(tmp_path):
    folder = write_chartqa(tmp_path)
    source = open_source(f"chartqa:{folder}")
    tasks = [load_task(i) for i in source.task_ids()]
    assert [t.question_kind for t in tasks] == ["chartqa:human"] * 2 + ["chartqa:augmented"]
    assert [t.answer for t in tasks] == ["50", "Peru", "160"]
    assert [t.answer_type for t in tasks] == [AnswerType.NUMBER, AnswerType.TEXT, AnswerType.NUMBER]
    assert tasks[0].data["table"] == {
        "header": ["Year", "Sales"],
        "rows": [["2019", "30"], ["2020", "50"], ["2021", "80"]],
    }
    assert "table" not in tasks[1].data  # two_0 has no table
    human = open_source(f"chartqa:{folder}?subset=human")
    assert len(human) == 2 and human.version != source.version
    one_file = open_source(f"chartqa:{folder / 'test_augmented.json'}")
    assert [load_task(i).answer for i in one_file.task_ids()] == ["160"]


def test_zoom_on_a_file_task_enlarges_the_files_pixels(tmp_path):
    folder = write_chartqa(tmp_path)
    env = gym.make("ToolUse-Chart-v0", source=f"chartqa:{folder}")
    env.reset(seed=0)
    obs, *_ = env.step(call("zoom", box=[0, 240, 200, 280], factor=2))
    assert obs["images"][-1].shape == (80, 400, 3)


def test_the_env_checker_passes_on_a_file_source(tmp_path):
    env = gym.make("ToolUse-Chart-v0", source=f"chartqa:{write_chartqa(tmp_path)}")
    check_env(env.unwrapped, skip_render_check=True)


def test_seeds_replays_and_family_checks(tmp_path):
    folder = write_chartqa(tmp_path)
    env = gym.make("ToolUse-Chart-v0", source=f"chartqa:{folder}")
    _, first = env.reset(seed=2)
    _, again = env.reset(options={"task_id": first["task_id"]})
    assert again["task_id"] == first["task_id"] and again["messages"] == first["messages"]
    _, drawn = env.reset()  # a random record of the files
    assert parse_task_id(drawn["task_id"])[1] == parse_task_id(first["task_id"])[1]
    _, wrapped = env.reset(seed=3 + 2)  # seeds past the records wrap around
    assert wrapped["task_id"] == first["task_id"]
    with pytest.raises(ValueError, match="no difficulty"):
        env.reset(seed=0, options={"difficulty": 1})
    # A plain chart env replays the file task by id too (the harness resets so).
    _, plain = gym.make("ToolUse-Chart-v0").reset(options={"task_id": first["task_id"]})
    assert plain["messages"] == first["messages"]
    with pytest.raises(ValueError, match="holds chart tasks"):
        gym.make("ToolUse-OCR-v0", source=f"chartqa:{folder}")


def test_changed_files_get_a_new_version_and_old_ids_are_refused(tmp_path):
    folder = write_chartqa(tmp_path)
    before = open_source(f"chartqa:{folder}")
    old_id = before.task_id(0)
    load_task.cache_clear()
    (folder / "test_human.json").write_text(
        (folder / "test_human.json").read_text().replace("2020?", "2021?")
    )
    after = open_source(f"chartqa:{folder}")
    assert after.version != before.version and after.task_id(0) != old_id
    # The old id's index entry now reopens files that hash differently.
    from iapo_bench.envs import family as family_module

    family_module._SOURCES.pop(("chart", before.version))
    with pytest.raises(ValueError, match="changed since"):
        load_task(old_id)


def test_the_same_files_elsewhere_give_the_same_ids(tmp_path):
    one = open_source(f"chartqa:{write_chartqa(tmp_path / 'one')}")
    two = open_source(f"chartqa:{write_chartqa(tmp_path / 'two')}")
    assert one.version == two.version and one.task_ids() == two.task_ids()


def test_another_process_loads_a_file_task_by_id(tmp_path):
    folder = write_chartqa(tmp_path)
    task_id = open_source(f"chartqa:{folder}").task_id(1)
    code = f"from iapo_bench.envs import load_task; print(load_task({task_id!r}).answer)"
    env = {**os.environ, "IAPO_BENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Peru"
    alone = {**env, "IAPO_BENCH_CACHE": str(tmp_path / "empty")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=alone)
    assert done.returncode != 0 and "open them first" in done.stderr


# --- ReFocus / VTool-R1 --------------------------------------------------------------------------


def test_refocus_boxes_become_focus_regions_and_the_focus_tools_work(tmp_path):
    path = write_refocus(tmp_path)
    env = gym.make("ToolUse-Chart-v0", source=f"refocus:{path}")
    obs, info = env.reset(seed=0)
    assert tool_names(info) == [
        "focus_on_x_values_with_mask",
        "focus_on_x_values_with_draw",
        "focus_on_x_values_with_highlight",
        "crop",
        "zoom",
    ]
    task = load_task(info["task_id"])
    assert [(e.kind, e.key, e.box.as_list()) for e in task.elements] == [
        ("x_value", "2019", [0, 0, 134, 300]),
        ("x_value", "2020", [133, 0, 267, 300]),
        ("x_value", "2021", [266, 0, 400, 300]),
    ]
    shown = obs["images"][0]
    obs, *_ = env.step(call("focus_on_x_values_with_mask", labels=["2020"]))
    masked = obs["images"][-1]
    assert (masked[:, :130] == 255).all() and (masked[:, 270:] == 255).all()
    assert np.array_equal(masked[:, 140:260], shown[:, 140:260])
    _, reward, *_ = env.step(format_answer("50"))
    assert reward == 1.0


def test_refocus_tables_and_the_vtool_r1_form(tmp_path):
    table = open_source(f"refocus:{write_refocus_table(tmp_path)}")
    task = load_task(table.task_id(0))
    assert task.question_kind == "refocus:table"
    assert {e.kind for e in task.elements} == {"column", "row"}
    assert [e.box.as_list() for e in task.elements if e.key == "Wins"] == [[260, 0, 420, 160]]
    assert "focus_on_rows_with_highlight" in task.tool_names
    # VTool-R1's conversion: boxes as a mapping from value to box, "question" and "image".
    path = write_refocus(tmp_path / "vtool")
    rows = json.loads(path.read_text())
    row = rows["7"]
    row["question"] = row.pop("query")
    row["image"] = row.pop("figure_path")
    row["x_values_bbox"] = dict(zip(row.pop("x_values"), row.pop("x_bboxes"), strict=True))
    path.write_text(json.dumps(list(rows.values())))
    task = load_task(open_source(f"refocus:{path}").task_id(0))
    assert [e.key for e in task.elements] == ["2019", "2020", "2021"]


# --- CharXiv ------------------------------------------------------------------------------------


def test_charxiv_descriptive_and_reasoning_files(tmp_path):
    descriptive, reasoning = write_charxiv(tmp_path)
    desc = open_source(f"charxiv:{descriptive}")
    tasks = [load_task(i) for i in desc.task_ids()]
    assert len(tasks) == 4 and desc.split == "validation"
    assert tasks[0].question.startswith("For the plot, what is its title?")
    assert tasks[3].question.startswith("How many subplots")  # qid 19 names no subplot
    assert [t.answer for t in tasks] == ["Not Applicable", "Year", "2", "1"]
    assert tasks[2].answer_type is AnswerType.NUMBER
    env = gym.make("ToolUse-Chart-v0", source=f"charxiv:{reasoning}")
    obs, info = env.reset(seed=0)
    assert tool_names(info) == ["crop", "zoom"]
    assert "height of bar b" in obs["text"]
    _, reward, *_ = env.step(format_answer("70"))
    assert reward == 1.0


def test_charxiv_test_answers_are_withheld(tmp_path):
    descriptive, _ = write_charxiv(tmp_path, split="test")
    with pytest.raises(SourceError, match=r"record 3: field 'answers': answers are withheld"):
        open_source(f"charxiv:{descriptive}")


# --- DocVQA and TextVQA -------------------------------------------------------------------------


def test_docvqa_pages_get_ocr_and_anls(tmp_path):
    path = write_docvqa(tmp_path)
    env = gym.make("ToolUse-OCR-v0", source=f"docvqa:{path.parent}")
    obs, info = env.reset(seed=0)
    assert tool_names(info) == ["ocr", "zoom"]
    obs, *_ = env.step(call("ocr", box=[0, 50, 480, 100]))
    assert "4,280.00" in obs["text"]  # the real engine reads the page's pixels
    _, reward, _, _, info = env.step(format_answer("4,280.0O"))  # one character off
    assert 0.85 < reward < 1.0 and info["rewards"]["exact_match"] == 0.0
    assert load_task(info["task_id"]).data["answers"] == ["4,280.00", "4280.00"]


def test_docvqa_test_split_is_refused_with_the_reason(tmp_path):
    path = write_docvqa(tmp_path, split="test")
    with pytest.raises(
        SourceError, match=r"record 0 \(questionId 49153\): field 'answers'.*withholds"
    ):
        open_source(f"docvqa:{path}")


def test_textvqa_is_scored_with_vqa_accuracy(tmp_path):
    path = write_textvqa(tmp_path)
    env = gym.make("ToolUse-OCR-v0", source=f"textvqa:{path}")
    _, info = env.reset(seed=0)
    task = load_task(info["task_id"])
    assert task.answer == "coca cola" and len(task.data["answers"]) == 10
    _, reward, _, _, info = env.step(format_answer("Coke"))
    assert reward == pytest.approx(0.3) and info["rewards"]["exact_match"] == 0.0


# --- errors -------------------------------------------------------------------------------------


def test_a_missing_image_names_its_expected_path(tmp_path):
    folder = write_chartqa(tmp_path)
    (folder / "png" / "two_0.png").unlink()
    with pytest.raises(SourceError) as error:
        open_source(f"chartqa:{folder}")
    message = str(error.value)
    assert "test_human.json: record 1: field 'image': missing image" in message
    assert str(folder / "png" / "two_0.png") in message


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda rows: rows[1].pop("query"), r"test_human.json: record 1: field 'query': missing"),
        (
            lambda rows: rows[0].update(label={"a": 1}),
            r"test_human.json: record 0: field 'label': must be str or int or float or list",
        ),
        (lambda rows: rows.append("nope"), r"test_human.json: record 2: is not an object"),
    ],
)
def test_malformed_records_name_file_record_and_field(tmp_path, edit, expected):
    folder = write_chartqa(tmp_path)
    file = folder / "test_human.json"
    rows = json.loads(file.read_text())
    edit(rows)
    file.write_text(json.dumps(rows))
    with pytest.raises(SourceError, match=expected):
        open_source(f"chartqa:{folder}")


def test_malformed_boxes_and_files(tmp_path):
    path = write_refocus(tmp_path)
    rows = json.loads(path.read_text())
    rows["7"]["x_bboxes"][1] = {"x1": 0.5, "y1": 0}
    path.write_text(json.dumps(rows))
    with pytest.raises(SourceError, match=r"record 7: field 'x_bboxes': a box must be"):
        open_source(f"refocus:{path}")
    path.write_text("{not json")
    with pytest.raises(SourceError, match=r"chartQA_v_bar_wbb.json: is not JSON"):
        open_source(f"refocus:{path}")
    docvqa = write_docvqa(tmp_path / "d")
    payload = json.loads(docvqa.read_text())
    payload["data"][1]["question"] = 7
    docvqa.write_text(json.dumps(payload))
    with pytest.raises(SourceError, match=r"record 1 \(questionId 8366\): field 'question'"):
        open_source(f"docvqa:{docvqa}")


def test_an_unreadable_image_is_named_when_the_task_loads(tmp_path):
    folder = write_chartqa(tmp_path)
    (folder / "png" / "two_0.png").write_bytes(b"not a png")
    source = open_source(f"chartqa:{folder}")
    with pytest.raises(
        SourceError, match=r"record 1: field 'image': .*two_0.png is not a readable"
    ):
        load_task(source.task_id(1))


def test_specs_parse_and_bad_ones_are_named():
    assert parse_spec("docvqa:/data/val?images=/imgs&split=val") == (
        "docvqa",
        "/data/val",
        {"images": "/imgs", "split": "val"},
    )
    with pytest.raises(SourceError, match="expected 'format:path'"):
        parse_spec("vqa2:/data")
    with pytest.raises(SourceError, match="no such file or folder"):
        open_source("chartqa:/nowhere/at/all/test")
    with pytest.raises(SourceError, match="unknown chartqa options"):
        open_source("chartqa:/tmp?bogus=1")


def test_a_task_whose_image_changed_after_opening_is_refused(tmp_path):
    root = write_chartqa(tmp_path / "data")
    source = open_source(f"chartqa:{root}")
    load_task.cache_clear()
    first = source.task_ids()[0]
    load_task(first)  # fine as opened
    load_task.cache_clear()
    image = source.records[0].image
    image.write_bytes(image.read_bytes() + b"\0")  # the bytes behind the hash change
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 10**9))
    with pytest.raises(ValueError, match="changed since they were opened"):
        load_task(first)
