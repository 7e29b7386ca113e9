"""The rule every tool follows before writing."""
import os.path as osp

from .tool_entry import ToolInputError


def check_output_paths(outputs, inputs=None, force=False):
    """Raise :class:`ToolInputError` unless every output may be written:
    never over an input (even with ``force``), never two outputs to one path,
    never over an existing file or a directory unless ``force``.

    Args:
        outputs (dict): ``{description: path}`` of the files a tool writes.
        inputs (dict, optional): ``{description: path}`` of those it reads.
        force (bool): Allow replacing existing files that are not inputs.
    """
    inputs = {k: v for k, v in (inputs or {}).items() if v}
    items = list(outputs.items())
    for i, (what, path) in enumerate(items):
        for other_what, other in items[i + 1:]:
            if osp.realpath(path) == osp.realpath(other):
                raise ToolInputError(
                    f'The {what} and the {other_what} would both be '
                    f'written to {path!r}; give them different paths.')
        for in_what, in_path in inputs.items():
            if osp.realpath(path) == osp.realpath(in_path):
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
