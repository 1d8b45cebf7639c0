"""``iapo-bench``: evaluate agents, list environments, look at a task.

- ``iapo-bench run``: scripted baselines (or any named agents) on the env ids, scored on the
  frozen test lists, with a progress bar, a results table and a results folder.
- ``iapo-bench envs``: one line per registered env id.
- ``iapo-bench show ENV_ID --seed N``: save a task's images and print its prompt.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path
from typing import Annotated

import gymnasium as gym
import typer
from PIL import Image
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from iapo_bench.baselines.registry import check_agent_spec, make_agent
from iapo_bench.baselines.scripted import AGENTS
from iapo_bench.chat import render_transcript
from iapo_bench.envs import env_ids, family_for_env_id
from iapo_bench.envs.family import load_task, split_seed
from iapo_bench.leaderboard.harness import evaluate
from iapo_bench.leaderboard.records import ResultsWriter
from iapo_bench.rewards.rubric import Rubric

__all__ = ["app"]

app = typer.Typer(
    help="Tool-use environments, baselines and a leaderboard for small vision-language agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()

_SPLITS = ("train", "validation", "test")


def _check_env_ids(values: list[str] | None) -> list[str]:
    known = env_ids()
    chosen = values or known
    for value in chosen:
        if value.removeprefix("iapo_bench:") not in known:
            raise typer.BadParameter(f"unknown env id {value!r}; known: {', '.join(known)}")
    return [v.removeprefix("iapo_bench:") for v in chosen]


def _check_agents(values: list[str] | None) -> list[str]:
    chosen = values or list(AGENTS)
    for value in chosen:
        try:
            check_agent_spec(value)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--agent") from None
    return chosen


def _check_split(value: str) -> str:
    if value not in _SPLITS:
        raise typer.BadParameter(f"split must be one of {', '.join(_SPLITS)}, got {value!r}")
    return value


def _error(message: str) -> None:
    """One line (never wrapped, so paths stay whole) naming what is wrong."""
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)


def _fmt(value: object, digits: int = 3) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


@app.command()
def run(
    env: Annotated[
        list[str] | None,
        typer.Option("--env", "-e", help="Env id to evaluate (repeatable); default: all."),
    ] = None,
    agent: Annotated[
        list[str] | None,
        typer.Option(
            "--agent",
            "--policy",
            "-a",
            help="Agent to evaluate (repeatable): a scripted one; tiny-vlm (the warm-started "
            "tiny VLM, needs the \\[train] extra); hf:PATH (a local transformers VLM); "
            "openai:MODEL@BASE_URL (an OpenAI-compatible endpoint, key from $OPENAI_API_KEY, "
            "needs the \\[judge] extra). Default: all scripted.",
        ),
    ] = None,
    split: Annotated[
        str, typer.Option(help="Split: test (the frozen list), validation or train.")
    ] = "test",
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Only the first N tasks (default: the whole test list, or 100)."),
    ] = None,
    episodes: Annotated[int, typer.Option(min=1, help="Episodes per task (repeats).")] = 1,
    seed: Annotated[
        int, typer.Option(min=0, help="Seed of the agents (and of off-test tasks).")
    ] = 0,
    max_turns: Annotated[int, typer.Option(min=2, help="Messages allowed per episode.")] = 4,
    batch_size: Annotated[int, typer.Option(min=1, help="Episodes in flight per agent.")] = 16,
    rubric: Annotated[
        str | None,
        typer.Option(
            help="Rubric spec for every env, e.g. 'exact_match:1,format_valid:0.1,tool_success:0' "
            "(default: each env's own)."
        ),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", "-o", help="Results folder; an existing one is resumed."),
    ] = None,
    allow_env_mismatch: Annotated[
        bool,
        typer.Option(
            help="Score the frozen test lists even when the running envs would render other "
            "bytes (other Pillow, FreeType, numpy, OpenCV or fonts); the metadata records it."
        ),
    ] = False,
) -> None:
    """Evaluate agents on env ids and write episodes.jsonl, summary.csv and metadata.json."""
    env_list = _check_env_ids(env)
    agent_list = _check_agents(agent)
    split = _check_split(split)
    if rubric is not None:
        try:
            Rubric.parse(rubric)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--rubric") from None
    if output_dir is None:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        output_dir = Path("iapo-results") / f"run-{stamp}"
    try:  # a bad folder is named before any work is done
        ResultsWriter(output_dir).close()
    except ValueError as error:
        _error(str(error))
        raise typer.Exit(code=2) from None
    console.print(f"Results folder: [bold]{output_dir}[/bold] (run again with -o to resume)")
    try:
        policies = []
        for name in agent_list:
            # Model loading and the no-tool priors take seconds: say so, never pause silently.
            with console.status(f"Preparing agent {escape(name)}..."):
                policies.append(make_agent(name, seed=seed, env_ids=env_list))
    except ValueError as error:
        _error(str(error))
        raise typer.Exit(code=2) from None
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bars: dict[tuple[str, str], int] = {}

        def on_start(agent_name: str, env_id: str, total: int, finished: int) -> None:
            bars[agent_name, env_id] = progress.add_task(
                f"{agent_name} on {env_id}", total=total, completed=finished
            )

        def on_episode(record: object) -> None:
            progress.advance(bars[record.agent, record.env_id])  # type: ignore[attr-defined]

        try:
            writer = evaluate(
                env_list,
                policies,
                output_dir,
                split=split,
                limit=limit,  # type: ignore[arg-type]
                repeats=episodes,
                seed=seed,
                max_turns=max_turns,
                batch_size=batch_size,
                rubric=rubric,
                allow_env_mismatch=allow_env_mismatch,
                command=["iapo-bench", *sys.argv[1:]],
                on_start=on_start,
                on_episode=on_episode,
            )
        except ValueError as error:
            _error(str(error))
            raise typer.Exit(code=2) from None
    summary = writer.summary  # written by evaluate
    writer.close()
    assert summary is not None
    table = Table(title=f"iapo-bench results ({split} split)")
    columns = [
        ("agent", "agent"),
        ("env", "env_id"),
        ("n", "episodes"),
        ("score", "score"),
        ("±95%", "std_error"),
        ("calls", "tool_call_rate"),
        ("call ok", "tool_success_rate"),
        ("turns", "mean_turns"),
        ("ms", "latency_mean_s"),
    ]
    # Numbers never truncate; on a narrow terminal the env id folds instead.
    for title, _ in columns:
        if title == "env":
            table.add_column(title, overflow="fold")
        else:
            justify = "left" if title == "agent" else "right"
            table.add_column(title, justify=justify, no_wrap=True, min_width=len(title))
    for row in summary.sort_values(["env_id", "score"], ascending=[True, False]).itertuples():
        values = row._asdict()
        cells = []
        for _, key in columns:
            value = values[key]
            if key == "std_error":
                value = 1.96 * value
            if key == "latency_mean_s":
                value = 1000 * value
                cells.append(_fmt(value, 1))
                continue
            cells.append(_fmt(value))
        table.add_row(*cells)
    console.print(table)
    console.print(f"Wrote {output_dir}/episodes.jsonl, summary.csv and metadata.json")


@app.command("envs")
def list_envs() -> None:
    """List the registered env ids, one a line."""
    for env_id in env_ids():
        family = family_for_env_id(env_id)
        console.print(
            f"{env_id}  family={family.name} version={family.version} "
            f"hash={family.version_hash} difficulties={list(family.difficulties)} "
            f"tools={len(family.tools)} test_tasks={family.test_list_size}",
            highlight=False,
        )


@app.command()
def show(
    env_id: Annotated[str, typer.Argument(help="An env id, e.g. ToolUse-Chart-v0.")],
    seed: Annotated[int, typer.Option(min=0, help="Task seed within the split.")] = 0,
    split: Annotated[str, typer.Option(help="Split: train, validation or test.")] = "train",
    difficulty: Annotated[int | None, typer.Option(help="Difficulty level.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the images.")] = Path("."),
) -> None:
    """Save a task's shown and full-resolution images and print its prompt and answer."""
    (env_name,) = _check_env_ids([env_id])
    split = _check_split(split)
    family = family_for_env_id(env_name)
    level = family.default_difficulty if difficulty is None else difficulty
    if level not in family.difficulties:
        raise typer.BadParameter(f"difficulty must be one of {list(family.difficulties)}")
    try:
        seed_value = split_seed(split, seed)  # type: ignore[arg-type]
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    task = load_task(family.task_id(split, level, seed_value))  # type: ignore[arg-type]
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{family.name}-{split}-d{level}-{seed}"
    shown, source = out / f"{stem}.png", out / f"{stem}-source.png"
    Image.fromarray(task.image).save(shown)
    Image.fromarray(task.source_image).save(source)
    environment = gym.make(env_name, split=split, difficulty=level)
    _, info = environment.reset(seed=seed)
    console.rule(f"{task.id}")
    console.print(render_transcript(info["messages"]), markup=False, highlight=False)
    console.rule()
    console.print(
        f"Reference answer (hidden from the agent): [bold]{task.answer}[/bold] "
        f"({task.answer_type.value}; evidence: {', '.join(task.evidence)})"
    )
    console.print(
        f"Saved {shown} ({task.image.shape[1]}x{task.image.shape[0]}) and "
        f"{source} ({task.source_image.shape[1]}x{task.source_image.shape[0]})"
    )


if __name__ == "__main__":
    app()
