"""The reference GRPO / IAPO trainer.

One readable file plus small helpers; filled by the trainer issue.
"""
