"""``iapo-bench``: evaluate agents, list environments, look at a task.

- ``iapo-bench run``: scripted baselines (or any named agents) on the env ids, scored on the
  frozen test lists, with a progress bar, a results table and a results folder.
- ``iapo-bench envs``: one line per registered env id.
- ``iapo-bench show ENV_ID --seed N``: save a task's images and print its prompt.
- ``iapo-bench export RUN_DIR -o FILE.csv``: one agent of a run as a leaderboard submission
  (``run --export-submission FILE.csv`` does it at the end of a run).
- ``iapo-bench submit FILE.csv``: verify a submission by replaying it; store it on the board.
- ``iapo-bench leaderboard [RUN_DIR ...]``: the board and local runs as CSV, markdown and a
  static HTML page with plots.
- ``iapo-bench train --config FILE``: train a policy (GRPO, ToRL, TRM, PAPO, IAPO, distillation).
- ``iapo-bench plot RUN_DIR``: a training run's learning curves.
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
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from iapo_bench.baselines.cached import default_cache_path
from iapo_bench.baselines.registry import check_agent_spec, make_agent
from iapo_bench.baselines.scripted import AGENTS
from iapo_bench.chat import render_transcript
from iapo_bench.envs import env_ids, family_for_env_id
from iapo_bench.envs.family import load_task, split_seed
from iapo_bench.leaderboard.board import Board, build_leaderboard
from iapo_bench.leaderboard.harness import evaluate
from iapo_bench.leaderboard.provenance import EnvMismatchError
from iapo_bench.leaderboard.records import ResultsWriter
from iapo_bench.leaderboard.submission import export_submission
from iapo_bench.rewards.rubric import Rubric
from iapo_bench.tomlfile import read_toml

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


def _check_sources(values: list[str] | None) -> dict[str, str]:
    """Each ``--source`` opened (files read and hashed), by the env id its format plays."""
    from iapo_bench.envs import get_family
    from iapo_bench.envs.loaders import open_source

    out: dict[str, str] = {}
    for value in values or []:
        try:
            with console.status(f"Reading {escape(value)}..."):
                opened = open_source(value)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--source") from None
        env_id = get_family(opened.family).env_id
        if env_id in out:
            raise typer.BadParameter(
                f"two sources for {env_id}: {out[env_id]!r} and {value!r}", param_hint="--source"
            )
        out[env_id] = value
    return out


_RUN_OPTIONS = (
    "env", "agent", "split", "limit", "episodes", "seed", "max_turns", "batch_size", "rubric",
    "output_dir", "allow_env_mismatch", "source", "workers", "backend", "ray_address", "cache",
)  # fmt: skip


def _read_run_config(ctx: typer.Context, path: Path) -> dict[str, object]:
    """The options a run config file sets and the command line did not (it wins)."""
    try:
        values = read_toml(path)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--config") from None
    unknown = sorted(set(values) - set(_RUN_OPTIONS))
    if unknown:
        raise typer.BadParameter(
            f"{path}: unknown option(s) {', '.join(unknown)}; known: {', '.join(_RUN_OPTIONS)}",
            param_hint="--config",
        )
    for name in ("env", "agent", "source"):  # repeatable options: a list, or one value
        if name in values and isinstance(values[name], str):
            values[name] = [values[name]]
    # Typer vendors click, so the source is compared by name, not with click's own enum.
    return {
        k: v
        for k, v in values.items()
        if getattr(ctx.get_parameter_source(k), "name", None) != "COMMANDLINE"
    }


def _default_workers(agents: list[str]) -> int:
    """One worker per core (up to 8) when every agent is scripted; model agents run in one."""
    import os

    if all(name in AGENTS for name in agents):
        return max(1, min(8, os.cpu_count() or 1))
    return 1


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
    ctx: typer.Context,
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
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            help="Evaluate on a local copy of a public dataset instead of generated tasks "
            "(repeatable): FORMAT:PATH, FORMAT one of chartqa, refocus, charxiv, docvqa, "
            "textvqa, e.g. 'docvqa:/data/DocVQA/val/val_v1.0.json'. Its env follows from the "
            "format; the metadata records the files' content hash.",
        ),
    ] = None,
    export_submission_to: Annotated[
        Path | None,
        typer.Option(
            "--export-submission",
            help="Also write the run as a leaderboard submission file (FILE.csv); with several "
            "agents, one file per agent, FILE-AGENT.csv. Test split only.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes playing episodes in parallel (default: one per core when "
            "every agent is scripted, else 1). Results are the same for any number.",
        ),
    ] = None,
    backend: Annotated[
        str,
        typer.Option(help="Where episodes run: local (this machine's processes) or ray."),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(help="A Ray cluster to connect to with --backend ray (default: a local one)."),
    ] = None,
    cache: Annotated[
        bool,
        typer.Option(
            help="Cache greedy model policies' outputs by exact prompt, so re-scoring a run "
            "under another rubric does not generate again (--no-cache bypasses it)."
        ),
    ] = True,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A TOML file of these options (names with underscores, e.g. max_turns = 4, "
            "agent = ['oracle']); options given on the command line win.",
        ),
    ] = None,
) -> None:
    """Evaluate agents on env ids and write episodes.jsonl, summary.csv and metadata.json."""
    if config is not None:  # the file's options, where the command line gave none
        given = {name: value for name, value in locals().items() if name in _RUN_OPTIONS}
        given |= _read_run_config(ctx, config)
        (env, agent, split, limit, episodes, seed, max_turns, batch_size, rubric, output_dir,
         allow_env_mismatch, source, workers, backend, ray_address, cache) = (
            given[name] for name in _RUN_OPTIONS)  # fmt: skip
        output_dir = Path(output_dir) if output_dir is not None else None
    if backend not in ("local", "ray"):
        raise typer.BadParameter(
            f"backend must be local or ray, got {backend!r}", param_hint="--backend"
        )
    sources = _check_sources(source)
    env_list = _check_env_ids(env) if env or not sources else list(sources)
    for env_id in sources:
        if env_id not in env_list:
            raise typer.BadParameter(
                f"the source for {env_id} needs that env; add --env {env_id}", param_hint="--source"
            )
    agent_list = _check_agents(agent)
    split = _check_split(split)
    if export_submission_to is not None and (split != "test" or sources):
        raise typer.BadParameter(
            "a submission holds episodes of the frozen test lists: use --split test, no --source",
            param_hint="--export-submission",
        )
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
                sources=sources,
                allow_env_mismatch=allow_env_mismatch,
                workers=workers or _default_workers(agent_list),
                backend=backend,
                ray_address=ray_address,
                policy_cache=default_cache_path() if cache else None,
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
    if export_submission_to is not None:
        names = [p.name for p in policies]  # the names the records carry
        for name, path in _submission_paths(export_submission_to, names).items():
            _export(output_dir, path, name, None)


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


def _submission_paths(path: Path, agents: list[str]) -> dict[str, Path]:
    """Where each agent's submission goes: ``path`` itself for one agent, else one file each."""
    if len(agents) == 1:
        return {agents[0]: path}
    safe = {a: "".join(c if c.isalnum() or c in "-_." else "-" for c in a) for a in agents}
    return {a: path.with_name(f"{path.stem}-{safe[a]}{path.suffix or '.csv'}") for a in agents}


def _export(run_dir: Path, path: Path, agent_name: str | None, submitter: str | None) -> None:
    """Export one agent of a run; one error line and exit code 2 when it cannot be."""
    try:
        manifest = export_submission(run_dir, path, agent=agent_name, submitter=submitter)
    except (ValueError, OSError) as error:
        _error(str(error))
        raise typer.Exit(code=2) from None
    claims = ", ".join(f"{e} {s:.3f}" for e, s in manifest.claimed_scores.items()) or "none"
    console.print(
        f"Wrote the submission {path} (agent {manifest.agent}; claimed scores: {claims}); "
        f"check it with: iapo-bench submit {path}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@app.command("export")
def export(
    run_dir: Annotated[Path, typer.Argument(help="A results folder written by iapo-bench run.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The submission file to write.")],
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent", "-a", help="The agent to export (needed when the run has several)."
        ),
    ] = None,
    submitter: Annotated[
        str | None, typer.Option(help="Who submits it (the manifest's submitter).")
    ] = None,
) -> None:
    """Write one agent of a run as a leaderboard submission: its actions, scores and manifest."""
    _export(run_dir, output, agent, submitter)


_DEFAULT_BOARD = Path("iapo-results") / "board"


@app.command()
def submit(
    file: Annotated[Path, typer.Argument(help="A submission file (actions, or a summary.csv).")],
    board: Annotated[
        Path, typer.Option(help="The board folder accepted submissions are stored in.")
    ] = _DEFAULT_BOARD,
    allow_partial: Annotated[
        bool,
        typer.Option(help="Accept a file covering only the first N tasks of a frozen test list."),
    ] = False,
) -> None:
    """Verify a submission (replay every episode, recompute every score) and store it.

    Exit codes: 0 accepted (or already on the board), 2 rejected (one line per problem),
    1 when this machine cannot replay the frozen test lists' bytes.
    """
    try:
        with console.status(f"Verifying {escape(str(file))}..."):
            receipt = Board(board).submit(file, allow_partial=allow_partial)
    except EnvMismatchError as error:
        _error(str(error))
        raise typer.Exit(code=1) from None
    except (ValueError, OSError) as error:
        _error(str(error))
        raise typer.Exit(code=2) from None

    def line(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    if receipt.duplicate:
        line(f"already on the board as {receipt.folder} (the same actions): nothing stored")
        return
    verdict = receipt.verdict
    assert verdict is not None
    if not verdict.accepted:
        console.print(
            f"[red]rejected:[/red] {escape(str(file))}: {len(verdict.problems)} problem(s)",
            soft_wrap=True,
            highlight=False,
        )
        for problem in verdict.problems:
            line(str(problem))
        raise typer.Exit(code=2)
    if verdict.status == "unverified":
        line(f"accepted as UNVERIFIED (a summary, nothing replayed): {len(verdict.summary)} rows")
        for row in verdict.summary:
            line(f"  {row['agent']} on {row['env_id']}: score {row['score']:.3f}")
    else:
        manifest = verdict.manifest
        assert manifest is not None
        count = len(verdict.episodes)
        rate = count / verdict.replay_seconds if verdict.replay_seconds else math.inf
        line(
            f"accepted as VERIFIED: {manifest.agent}, {count} episodes replayed in "
            f"{verdict.replay_seconds:.1f} s ({rate:.0f} episodes/s)"
        )
        for result in verdict.envs:
            claim = "" if result.claimed_score is None else f", claimed {result.claimed_score:.3f}"
            line(
                f"  {result.env_id}: score {result.score:.3f} on {result.tasks}/"
                f"{result.test_list_size} tasks x {result.repeats} repeat(s){claim}"
            )
    line(f"stored as {receipt.folder}")


@app.command()
def leaderboard(
    run_dirs: Annotated[
        list[Path] | None,
        typer.Argument(help="Run folders to show beside the board's submissions."),
    ] = None,
    board: Annotated[Path, typer.Option(help="The board folder.")] = _DEFAULT_BOARD,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for the page, CSV and markdown.")
    ] = Path("iapo-results") / "leaderboard",
    seed: Annotated[int, typer.Option(min=0, help="Seed of the bootstrap intervals.")] = 0,
) -> None:
    """Merge the board and run folders into leaderboard.csv, leaderboard.md and index.html."""
    try:
        with console.status("Computing intervals and plots..."):
            result = build_leaderboard(run_dirs or [], board, seed=seed)
            if not result.standings:
                raise ValueError(
                    f"nothing to show: {board} holds no submission and no run folder was given"
                    if not run_dirs
                    else "nothing to show: no episode of the current frozen test lists"
                )
            written = result.write(output)
    except (ValueError, OSError) as error:
        _error(str(error))
        raise typer.Exit(code=2) from None
    for env_id in result.env_ids:
        table = Table(title=env_id, box=box.SIMPLE_HEAD)
        standings = [s for s in result.standings if s.env_id == env_id]
        for title in ("#", "agent", "status", "score", "95% CI", "tasks", "calls", "k", "pass^k"):
            if title == "agent":  # a long name folds, a short one stays whole
                widest = max(len(s.label) for s in standings)
                table.add_column(title, overflow="fold", min_width=min(widest, 20))
            else:
                justify = "left" if title == "status" else "right"
                table.add_column(title, justify=justify, no_wrap=True)
        for s in standings:
            interval = "" if math.isnan(s.ci95_low) else f"{s.ci95_low:.2f}\u2013{s.ci95_high:.2f}"
            table.add_row(
                str(s.rank),
                escape(s.label),  # submitters choose names: never read them as markup
                s.status,
                _fmt(s.score),
                interval,
                "" if s.tasks is None else f"{s.tasks}/{s.test_list_size}",
                _fmt(s.tool_call_rate),
                "" if s.repeats is None else str(s.repeats),
                _fmt(s.pass_hat_k),
            )
        console.print(table)
    for note in result.notes:
        console.print(f"left out: {note}", markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"Wrote {', '.join(str(p) for p in written)}", markup=False, highlight=False, soft_wrap=True
    )


@app.command("train")
def train_command(
    config: Annotated[
        Path, typer.Option("--config", help="A TOML training config (iapo_bench/train/configs/).")
    ],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a config field, KEY=VALUE (repeatable; VALUE read as JSON when it "
            "parses), e.g. --set steps=2 --set run_dir=runs/x.",
        ),
    ] = None,
) -> None:
    """Train a policy with GRPO or a method of the IAPO paper's comparison; resumes a run folder.

    On several processes or GPUs: accelerate launch -m iapo_bench.train --config FILE.
    """
    try:
        from iapo_bench.baselines.vlm import require_train_extra

        require_train_extra("iapo-bench train")
        from iapo_bench.train.__main__ import parse_overrides
        from iapo_bench.train.grpo import load_config, train

        settings = load_config(config, **parse_overrides(set_ or []))
    except ValueError as error:
        _error(str(error))
        raise typer.Exit(code=2) from None
    console.print(f"Run folder: [bold]{escape(settings.run_dir)}[/bold] ({settings.method}, "
                  f"{settings.steps} steps; run again to resume)")  # fmt: skip
    run_dir = train(settings)
    console.print(f"Wrote {run_dir}/metrics.csv and {run_dir}/checkpoint", highlight=False)
    console.print(f"Evaluate it: iapo-bench run -a hf:{run_dir}/checkpoint", highlight=False)
    console.print(f"Its curves:  iapo-bench plot {run_dir}", highlight=False)


@app.command("plot")
def plot_command(
    run_dir: Annotated[Path, typer.Argument(help="A training run folder (with metrics.csv).")],
    window: Annotated[int, typer.Option(min=1, help="Steps in the running mean.")] = 5,
) -> None:
    """Draw a training run's learning curves to RUN_DIR/curves.png."""
    from iapo_bench.train.plot import plot_run

    try:
        path = plot_run(run_dir, window=window)
    except ValueError as error:
        _error(str(error))
        raise typer.Exit(code=2) from None
    console.print(f"Wrote {path}")


@app.command("reproduce")
def reproduce_command(
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Study folder; an existing one is resumed.")
    ] = Path("iapo-results/reproduce"),
    preset: Annotated[
        str, typer.Option(help="cpu (this machine, under an hour), smoke (CI) or gpu.")
    ] = "cpu",
    teacher: Annotated[
        str | None, typer.Option(help="The teacher's starting model (a local folder or name).")
    ] = None,
    student: Annotated[
        str | None, typer.Option(help="The student's starting model (a local folder or name).")
    ] = None,
) -> None:
    """Reproduce the IAPO paper's comparison at small scale: teacher, student, every method.

    Behaviour-clones and GRPO-trains a teacher and a student, continues the student with
    GRPO, ToRL, TRM, PAPO, IAPO and a distillation control (each seed), scores everything
    with the harness and writes OUTPUT_DIR/report.md, report.csv and curves.png.
    """
    try:
        from iapo_bench.baselines.vlm import require_train_extra

        require_train_extra("iapo-bench reproduce")
        from iapo_bench.train.reproduce import PRESETS, reproduce

        if preset not in PRESETS:
            raise ValueError(f"--preset: unknown preset {preset!r}; choose from {sorted(PRESETS)}")
        report = reproduce(
            output_dir,
            preset,
            teacher=teacher,
            student=student,
            log=lambda line: console.print(line, markup=False, highlight=False),
        )
    except ValueError as error:
        _error(str(error))
        raise typer.Exit(code=2) from None
    console.print(f"Wrote {report}", highlight=False)


if __name__ == "__main__":
    app()
