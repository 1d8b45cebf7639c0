"""ToolUse-OCR-v0: documents whose asked-for field is fine print until a tool reads it."""
