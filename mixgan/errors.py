"""The one exception type for bad user input."""


class UsageError(Exception):
    """Bad user input: reported as one line on stderr with exit status 2."""
