"""Small tasks and trajectories shared by the reward tests."""

import numpy as np

from iapo_bench.core import Answer, AnswerType, Task, Trajectory, Turn

IMAGE = np.zeros((4, 4, 3), dtype=np.uint8)


def make_task(answer: str = "100", answer_type: AnswerType = AnswerType.NUMBER) -> Task:
    return Task(
        id="chart/v0/test/d0/1",
        family="chart",
        version="v0",
        split="test",
        difficulty=0,
        seed=1,
        image=IMAGE,
        source_image=IMAGE,
        question="What is it?",
        answer=answer,
        answer_type=answer_type,
        question_kind="value",
    )


def answered(text: str) -> Trajectory:
    return Trajectory(
        task_id="chart/v0/test/d0/1",
        turns=(Turn(text=f"<answer>{text}</answer>", action=Answer(text=text)),),
    )
