"""How every tool reports failure: one ``error:`` line on stderr and an exit
status (the codes are listed in docs/tools.md)."""
import functools
import sys
import warnings

EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2


class ToolInputError(ValueError):
    """Bad input to a tool (a missing file, an unknown backbone, a checkpoint
    of another model, an output it must not write). The message says what is
    wrong and how to fix it."""


class ToolCheckFailed(RuntimeError):
    """A check the user asked a tool to make (``--verify``) failed."""


def tool_main(main):
    """Make a tool's ``main(argv=None)`` return its exit status: its own
    return value (None: 0), 2 after a :class:`ToolInputError`, 1 after a
    :class:`ToolCheckFailed`, each printed as one ``error:`` line. Anything
    else is a bug and keeps its traceback."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        # setuptools' deprecation warning for the ``import pkg_resources``
        # of mmengine's package utilities: nothing a user can act on.
        warnings.filterwarnings(
            'ignore',
            category=UserWarning,
            message='pkg_resources is deprecated as an API')
        try:
            status = main(*args, **kwargs)
        except ToolInputError as err:
            print(f'error: {err}', file=sys.stderr)
            return EXIT_BAD_INPUT
        except ToolCheckFailed as err:
            print(f'error: {err}', file=sys.stderr)
            return EXIT_CHECK_FAILED
        return status or 0

    return wrapper
