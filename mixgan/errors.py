"""Errors that mixgan reports to the user rather than as a traceback."""


class UsageError(Exception):
    """Bad user input: reported as one line on stderr with exit status 2."""
