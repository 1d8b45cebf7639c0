"""Thin bridges to TRL's ``environment_factory`` and to verifiers. Filled by the bridges issue."""
