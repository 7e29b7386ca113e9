"""How every command-line tool under ``tools/`` reports failure.

A tool's ``main(argv=None)`` is wrapped with :func:`tool_main`. The wrapper
turns the two expected kinds of failure into one ``error: ...`` line on
stderr and an exit status, so that no tool prints a traceback for a user's
mistake and every tool uses the same codes:

* :data:`EXIT_BAD_INPUT` (2, argparse's code for a bad command line): the
  tool refused its input - a missing or broken file, an unknown backbone,
  a checkpoint of another model, an output path it must not replace.
  Raised as :class:`ToolInputError`.
* :data:`EXIT_CHECK_FAILED` (1): the tool ran, and the check it was asked
  to make failed (e.g. ``--verify`` found the outputs differ). Raised as
  :class:`ToolCheckFailed`.

Anything else is a bug and keeps its traceback.
"""
import functools
import sys

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2


class ToolInputError(ValueError):
    """Bad input to a tool: a missing file, an unknown backbone, a
    checkpoint that does not fit the model, an output it must not write.
    The message says what is wrong and how to fix it."""


class ToolCheckFailed(RuntimeError):
    """A check the user asked a tool to make (``--verify`` and the like)
    ran and failed."""


def tool_main(main):
    """Decorate a tool's ``main(argv=None)`` so that it returns its exit
    status: ``main``'s own return value (``None`` counts as
    :data:`EXIT_OK`), :data:`EXIT_BAD_INPUT` after a
    :class:`ToolInputError` or :data:`EXIT_CHECK_FAILED` after a
    :class:`ToolCheckFailed`, each printed as one ``error:`` line on stderr.

    Use as ``sys.exit(main())`` under ``if __name__ == '__main__'``.
    """

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            status = main(*args, **kwargs)
        except ToolInputError as err:
            print(f'error: {err}', file=sys.stderr)
            return EXIT_BAD_INPUT
        except ToolCheckFailed as err:
            print(f'error: {err}', file=sys.stderr)
            return EXIT_CHECK_FAILED
        return EXIT_OK if status is None else status

    return wrapper
