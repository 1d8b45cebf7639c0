"""The OpenAI chat-completions wire format: :mod:`iapo_bench.wire`, re-exported here.

The helpers are pure data and live below every policy and adapter, in :mod:`iapo_bench.wire`;
this module keeps the names importable from where they first lived.
"""

from iapo_bench.wire import (
    Message,
    ToolImages,
    action_from_reply,
    image_data_url,
    reply_message,
    request_messages,
)

__all__ = [
    "Message",
    "ToolImages",
    "action_from_reply",
    "image_data_url",
    "reply_message",
    "request_messages",
]
