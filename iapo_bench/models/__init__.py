"""Model-side pieces: the tiny VLM, processor, chat templates, messages to model inputs.

The one place for image/token bookkeeping; filled by the policies issue.
"""
