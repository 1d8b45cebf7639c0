#!/usr/bin/env bash
# The study's stages one by one (what `iapo-bench reproduce` runs). The behaviour-
# cloning warm starts (teacher-bc/, student-bc/) are made by iapo_bench.train.bc.clone
# inside `iapo-bench reproduce --preset ...`; settings: study2/study.json.
set -euo pipefail
iapo-bench train --config /work/exp/study2/configs/teacher.toml
iapo-bench train --config /work/exp/study2/configs/student.toml
iapo-bench train --config /work/exp/study2/configs/grpo-s0.toml
iapo-bench train --config /work/exp/study2/configs/grpo-s1.toml
iapo-bench train --config /work/exp/study2/configs/grpo-s2.toml
iapo-bench train --config /work/exp/study2/configs/torl-s0.toml
iapo-bench train --config /work/exp/study2/configs/torl-s1.toml
iapo-bench train --config /work/exp/study2/configs/torl-s2.toml
iapo-bench train --config /work/exp/study2/configs/trm-s0.toml
iapo-bench train --config /work/exp/study2/configs/trm-s1.toml
iapo-bench train --config /work/exp/study2/configs/trm-s2.toml
iapo-bench train --config /work/exp/study2/configs/papo-s0.toml
iapo-bench train --config /work/exp/study2/configs/papo-s1.toml
iapo-bench train --config /work/exp/study2/configs/papo-s2.toml
iapo-bench train --config /work/exp/study2/configs/iapo-s0.toml
iapo-bench train --config /work/exp/study2/configs/iapo-s1.toml
iapo-bench train --config /work/exp/study2/configs/iapo-s2.toml
iapo-bench train --config /work/exp/study2/configs/distill-s0.toml
iapo-bench train --config /work/exp/study2/configs/distill-s1.toml
iapo-bench train --config /work/exp/study2/configs/distill-s2.toml
iapo-bench run -a hf:/work/exp/study2/teacher/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/teacher/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/student/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/student/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/grpo-s0/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/grpo-s0/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/grpo-s1/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/grpo-s1/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/grpo-s2/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/grpo-s2/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/torl-s0/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/torl-s0/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/torl-s1/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/torl-s1/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/torl-s2/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/torl-s2/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/trm-s0/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/trm-s0/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/trm-s1/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/trm-s1/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/trm-s2/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/trm-s2/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/papo-s0/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/papo-s0/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/papo-s1/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/papo-s1/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/papo-s2/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/papo-s2/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/iapo-s0/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/iapo-s0/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/iapo-s1/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/iapo-s1/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/iapo-s2/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/iapo-s2/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/distill-s0/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/distill-s0/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/distill-s1/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/distill-s1/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
iapo-bench run -a hf:/work/exp/study2/arms/distill-s2/checkpoint -e ToolUse-Bars-v0 --split validation --limit 60 --max-turns 2
iapo-bench run -a hf:/work/exp/study2/arms/distill-s2/checkpoint -e ToolUse-Bars-v0 --max-turns 2 --limit 150
