"""The one exception type for bad user input."""


class UsageError(Exception):
    """Bad user input: reported as one line on stderr with exit status 2."""


# Runs that stop before their end (issue 7). The CLI prints the message as one line and exits
# with ``exit_code``; raised by mixgan.run_guard.


class RunInterrupted(KeyboardInterrupt):
    """The run stopped on Ctrl-C or SIGTERM after writing a checkpoint."""

    def __init__(self, message, exit_code=130):
        super().__init__(message)
        self.message, self.exit_code = message, exit_code


class RunFailed(RuntimeError):
    """The run stopped because its numbers went bad (NaN or Inf)."""

    exit_code = 1

    def __init__(self, message):
        super().__init__(message)
        self.message = message
