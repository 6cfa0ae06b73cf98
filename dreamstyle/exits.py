"""Exit codes of `dreamstyle` processes that a caller acts on (besides 0, 1 for failed work, 2 for usage)."""

__all__ = ["STATE_IN_USE"]

# The engine's, read by a client that started it: another engine holds the state folder (sysexits'
# EX_TEMPFAIL: run again when that one has stopped).
STATE_IN_USE = 75
