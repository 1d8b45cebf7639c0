"""LLM judge reward: ask a judge model whether an answer means the same as the reference.

Exact match fails answers that are right in other words ("five" for "5", "Sept. 3" for
"3 September"); a judge model reads them as a person would. VTool-R1 scores its answers so.
The answers come from a policy that RL optimises against the judge, so the judge is built to
resist it: the answer is quoted as data and bounded in the prompt, verdicts are read
strictly, and an answer that is itself a verdict is never shown to the judge
(:mod:`~iapo_bench.rewards.judge.templates`).

- :mod:`~iapo_bench.rewards.judge.templates`: :class:`JudgeInput`, :class:`Verdict`,
  :class:`JudgeTemplate` and :data:`TEMPLATES` (``"yes_no"``, ``"graded"``), :func:`quote`,
  :data:`MAX_PREDICTION_CHARS`.
- :mod:`~iapo_bench.rewards.judge.backends`: the :class:`JudgeBackend` protocol,
  :class:`OpenAIJudge` (any OpenAI-compatible endpoint) and :class:`TransformersJudge` (a
  local causal LM, scored by the probabilities it gives the template's answers).
- :mod:`~iapo_bench.rewards.judge.cache`: :class:`JudgeCache`, the persistent SQLite cache of
  verdicts, and :class:`JudgeRecord`, its audit trail.
- :mod:`~iapo_bench.rewards.judge.reward`: :class:`LLMJudge`, the reward (batched and
  concurrent through :class:`~iapo_bench.aio.Requester`, cached, with flagged exact-match
  fallbacks), and :func:`judge_from_env`, the shared judge a rubric spec's ``llm_judge``
  names.

When the judge cannot give a verdict, the score is exact match's, flagged ``fallback``; it is
also flagged ``unavailable`` (:data:`~iapo_bench.rewards.rubric.UNAVAILABLE`, an
infrastructure error the harness keeps out of the score) only when the judge could not be
reached at all after every retry, never when it replied unreadably: the table is in
:mod:`~iapo_bench.rewards.judge.reward`. The openai, torch and transformers imports are lazy:
this package imports without them.
"""

from iapo_bench.rewards.judge.backends import (
    JudgeBackend,
    JudgeReply,
    OpenAIJudge,
    TransformersJudge,
)
from iapo_bench.rewards.judge.cache import JudgeCache, JudgeRecord, default_cache_path
from iapo_bench.rewards.judge.reward import LLMJudge, judge_from_env
from iapo_bench.rewards.judge.templates import (
    MAX_PREDICTION_CHARS,
    TEMPLATES,
    JudgeInput,
    JudgeTemplate,
    Verdict,
    quote,
)

__all__ = [
    "MAX_PREDICTION_CHARS",
    "TEMPLATES",
    "JudgeBackend",
    "JudgeCache",
    "JudgeInput",
    "JudgeRecord",
    "JudgeReply",
    "JudgeTemplate",
    "LLMJudge",
    "OpenAIJudge",
    "TransformersJudge",
    "Verdict",
    "default_cache_path",
    "judge_from_env",
    "quote",
]
