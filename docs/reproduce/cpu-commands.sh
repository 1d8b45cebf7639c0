#!/usr/bin/env bash
# The study's stages one by one (what `iapo-bench reproduce` runs). The behaviour-
# cloning warm starts (teacher-bc/, student-bc/) are made by iapo_bench.train.bc.clone
# inside `iapo-bench reproduce --preset ...`; settings: study/study.json.
set -euo pipefail
iapo-bench train --config /work/exp/study/configs/teacher.toml
iapo-bench train --config /work/exp/study/configs/student.toml
iapo-bench train --config /work/exp/study/configs/grpo-s0.toml
iapo-bench train --config /work/exp/study/configs/grpo-s1.toml
iapo-bench train --config /work/exp/study/configs/grpo-s2.toml
iapo-bench train --config /work/exp/study/configs/torl-s0.toml
iapo-bench train --config /work/exp/study/configs/torl-s1.toml
iapo-bench train --config /work/exp/study/configs/torl-s2.toml
iapo-bench train --config /work/exp/study/configs/trm-s0.toml
iapo-bench train --config /work/exp/study/configs/trm-s1.toml
iapo-bench train --config /work/exp/study/configs/trm-s2.toml
iapo-bench train --config /work/exp/study/configs/papo-s0.toml
iapo-bench train --config /work/exp/study/configs/papo-s1.toml
iapo-bench train --config /work/exp/study/configs/papo-s2.toml
iapo-bench train --config /work/exp/study/configs/iapo-s0.toml
iapo-bench train --config /work/exp/study/configs/iapo-s1.toml
iapo-bench train --config /work/exp/study/configs/iapo-s2.toml
iapo-bench train --config /work/exp/study/configs/distill-s0.toml
iapo-bench train --config /work/exp/study/configs/distill-s1.toml
iapo-bench train --config /work/exp/study/configs/distill-s2.toml
iapo-bench run -a hf:/work/exp/study/teacher/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/teacher/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/student/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/student/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/grpo-s0/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/grpo-s0/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/grpo-s1/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/grpo-s1/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/grpo-s2/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/grpo-s2/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/torl-s0/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/torl-s0/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/torl-s1/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/torl-s1/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/torl-s2/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/torl-s2/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/trm-s0/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/trm-s0/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/trm-s1/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/trm-s1/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/trm-s2/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/trm-s2/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/papo-s0/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/papo-s0/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/papo-s1/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/papo-s1/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/papo-s2/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/papo-s2/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/iapo-s0/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/iapo-s0/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/iapo-s1/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/iapo-s1/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/iapo-s2/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/iapo-s2/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/distill-s0/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/distill-s0/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/distill-s1/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/distill-s1/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study/arms/distill-s2/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study/arms/distill-s2/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
