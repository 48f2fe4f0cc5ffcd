"""The error classes: bad input, and runs that stopped before their end.

The command line prints each as one line on stderr: ``UsageError`` with exit status 2, the
others with their ``exit_code``.
"""


class UsageError(Exception):
    """Bad user input: reported as one line on stderr with exit status 2.

    >>> from mixgan import UsageError, make_config
    >>> try:
    ...     make_config(dict(objective="nope"))
    ... except UsageError as e:
    ...     print(str(e).split(";")[0])
    unknown objective 'nope'
    """


class RunInterrupted(KeyboardInterrupt):
    """The run stopped on Ctrl-C or SIGTERM after writing a checkpoint; resume it.

    >>> from mixgan import RunInterrupted, resume, train
    >>> try:  # doctest: +SKIP
    ...     run = train(config)
    ... except RunInterrupted as stop:
    ...     print(stop.message)  # "interrupted by SIGINT at iteration ...; resume with: ..."
    """

    def __init__(self, message, exit_code=130):
        super().__init__(message)
        self.message, self.exit_code = message, exit_code


class RunFailed(RuntimeError):
    """The run stopped because its numbers went bad (NaN or Inf); it is marked failed.

    >>> from mixgan import RunFailed, train
    >>> try:  # doctest: +SKIP
    ...     train(config)
    ... except RunFailed as failure:
    ...     print(failure.message)  # "run failed: d_loss became nan at iteration ...; ..."
    """

    exit_code = 1

    def __init__(self, message):
        super().__init__(message)
        self.message = message
