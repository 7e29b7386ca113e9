"""The rule every tool follows before writing: never replace an input, never
write two outputs to one path, never replace an existing file unless the
user passed ``--force``."""
import os.path as osp

from .tool_entry import ToolInputError


def _same_file(a, b):
    return osp.realpath(a) == osp.realpath(b)


def check_output_paths(outputs, inputs=None, force=False):
    """Raise :class:`ToolInputError` unless every output path is safe to
    write.

    Args:
        outputs (dict): ``{description: path}`` of the files a tool writes.
        inputs (dict, optional): ``{description: path}`` of the files it
            reads. An output equal to an input is refused even with
            ``force``: the tool would destroy what it is reading.
        force (bool): Allow replacing existing files that are not inputs.
    """
    inputs = {k: v for k, v in (inputs or {}).items() if v}
    items = list(outputs.items())
    for i, (what, path) in enumerate(items):
        for other_what, other in items[i + 1:]:
            if _same_file(path, other):
                raise ToolInputError(
                    f'The {what} and the {other_what} would both be '
                    f'written to {path!r}; give them different paths.')
        for in_what, in_path in inputs.items():
            if _same_file(path, in_path):
                raise ToolInputError(
                    f'The {what} {path!r} is the {in_what}: writing it '
                    f'would destroy the input. Choose another output path.')
        if osp.isdir(path):
            raise ToolInputError(
                f'The {what} {path!r} is a directory; give a file path.')
        if osp.lexists(path) and not force:
            raise ToolInputError(
                f'The {what} {path!r} already exists; choose another path '
                'or pass --force to overwrite it.')
