"""The one driver of the official-checkpoint converters.

Each family's converter (``tools/model_converters/<family>_official.py``)
subclasses :class:`BackboneConverter` with its own rename table, arch
inference and target backbone, and calls :func:`convert_main`. The driver
does the rest the same way for every family:

* refuse an output that exists (without ``--force``) or is the source;
* read the source with the safe unpickler: a bare state dict, or one under
  ``model`` / ``state_dict`` (``module.`` stripped);
* an ImageNet (or mmpretrain) checkpoint becomes mmreplk backbone keys
  (the classifier dropped, ``--arch`` or the inferred arch), checked
  strictly against the backbone, keys no ImageNet checkpoint has (output
  norms) initialised and reported;
* a fine-tuned whole-model checkpoint (``backbone.*`` plus the heads of an
  mmseg 0.x segmentor or an mmdet 2.x detector) needs ``--config``: the
  backbone keys go through the same rename table, the head keys through
  :meth:`BackboneConverter.rename_head` (the UperNet, FCN, FPN, RPN and
  Cascade R-CNN head keys are named alike in mmseg 0.x/1.x and mmdet
  2.x/3.x; a key it maps to None is dropped and listed), and the result is
  checked strictly against the config's whole model (which
  :meth:`BackboneConverter.whole_model_config` may adapt to the
  checkpoint, e.g. to its deploy form), so ``tools/test.py CONFIG OUT``
  evaluates it;
* every missing, unexpected or wrongly shaped key is listed and nothing is
  written; the output is written atomically.
"""
import argparse
import re
from collections import OrderedDict

from .checkpoint_io import (CheckpointMismatchError, check_against_model,
                            read_checkpoint, save_state_dict,
                            unwrap_state_dict)
from .model_from_config import build_model_from_config, load_config
from .output_paths import check_output_paths
from .tool_entry import ToolInputError

# Top-level modules of the segmentors and detectors that official
# fine-tuned checkpoints hold next to ``backbone``.
HEAD_PREFIXES = ('decode_head.', 'auxiliary_head.', 'neck.', 'rpn_head.',
                 'roi_head.', 'bbox_head.', 'mask_head.')


class BackboneConverter:
    """What one family says about its official checkpoints.

    Subclasses set :attr:`family`, :attr:`archs`, :attr:`renames` and
    :attr:`dropped` and implement :meth:`infer_arch` and
    :meth:`build_backbone`; the other methods have defaults.
    """
    #: Family name for messages, e.g. ``'RepLKNet'``.
    family = ''
    #: The choices of ``--arch``.
    archs = ()
    #: ``(pattern, replacement)`` pairs applied in order to every backbone
    #: key.
    renames = ()
    #: Keys of the official backbone that a dense backbone does not have
    #: (the ImageNet classifier), a compiled pattern or None.
    dropped = None

    def add_arguments(self, parser):
        """Add the family's own command-line options."""

    def rename(self, state, args):
        """``(converted, dropped_keys)`` of a flat official backbone state
        dict."""
        converted, dropped = OrderedDict(), []
        for name, value in state.items():
            if self.dropped is not None and self.dropped.match(name):
                dropped.append(name)
                continue
            for pattern, replacement in self.renames:
                name = re.sub(pattern, replacement, name)
            converted[name] = value
        return converted, dropped

    def rename_head(self, name):
        """The mmseg 1.x / mmdet 3.x name of a head key of a fine-tuned
        mmseg 0.x / mmdet 2.x checkpoint (the same names by default), or
        None for a key the model does not have (dropped and listed)."""
        return name

    def whole_model_config(self, cfg, backbone_state):
        """``(cfg, meta)``: the config whose model a fine-tuned checkpoint
        is checked against, given its renamed backbone keys (unchanged by
        default), and facts for the checkpoint's ``meta``."""
        return cfg, {}

    def infer_arch(self, converted, args):
        """The arch name of a converted backbone state dict; raise
        :class:`CheckpointMismatchError` when it cannot be told."""
        raise NotImplementedError

    def build_backbone(self, arch, converted, args):
        """``(backbone, meta)``: the module the converted state must match
        and facts for the checkpoint's ``meta`` (e.g. the deploy form)."""
        raise NotImplementedError

    def reconcile(self, converted, dropped, backbone):
        """Bring an ImageNet checkpoint to the dense backbone: add the keys
        no ImageNet checkpoint has (returned, for the report) or drop those
        the backbone lacks (appended to ``dropped``)."""
        return []


def _parser(converter, description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help=f'official {converter.family} checkpoint')
    parser.add_argument('dst', help='output path of the mmreplk checkpoint')
    parser.add_argument(
        '--arch',
        choices=list(converter.archs),
        help='backbone arch of an ImageNet checkpoint (default: inferred '
        'from the keys)')
    parser.add_argument(
        '--config',
        help='mmreplk config of a fine-tuned whole-model checkpoint '
        '(segmentor or detector): the output is checked against its model')
    parser.add_argument(
        '--force',
        action='store_true',
        help='overwrite an existing output file')
    converter.add_arguments(parser)
    return parser


def is_whole_model(state):
    """Whether a flat state dict is a segmentor's or detector's (a
    ``backbone.`` key next to head keys)."""
    return any(k.startswith('backbone.') for k in state) and any(
        k.startswith(HEAD_PREFIXES) for k in state)


def _convert_backbone(converter, state, args):
    state = OrderedDict(
        (k[len('backbone.'):] if k.startswith('backbone.') else k, v)
        for k, v in state.items())
    converted, dropped = converter.rename(state, args)
    arch = args.arch or converter.infer_arch(converted, args)
    try:
        backbone, meta = converter.build_backbone(arch, converted, args)
    except ValueError as err:  # the backbone refuses these options
        raise ToolInputError(str(err)) from err
    fresh = converter.reconcile(converted, dropped, backbone)
    check_against_model(converted, backbone, f'{converter.family}-{arch}')
    meta = dict(
        meta, arch=arch, dropped=sorted(dropped), initialised=sorted(fresh))
    summary = (f'{len(converted)} tensors of {converter.family}-{arch}; '
               f'dropped {len(dropped)} keys the dense backbone does not '
               f'have {sorted(set(k.split(".")[0] for k in dropped))}; '
               f'{len(fresh)} keys no ImageNet checkpoint has, initialised')
    return converted, meta, summary


def _convert_whole_model(converter, state, args):
    if args.config is None:
        raise ToolInputError(
            f'{args.src!r} is a fine-tuned segmentor/detector checkpoint '
            '(backbone and head keys); pass --config with the mmreplk '
            'config that evaluates it, e.g. --config '
            'configs/upernet_<model>_ade20k.py.')
    if args.arch is not None:
        raise ToolInputError('--arch is for ImageNet checkpoints; the '
                             "config's backbone decides for a fine-tuned "
                             'checkpoint. Drop --arch.')
    backbone_state = OrderedDict((k[len('backbone.'):], v)
                                 for k, v in state.items()
                                 if k.startswith('backbone.'))
    renamed, dropped = converter.rename(backbone_state, args)
    dropped = ['backbone.' + k for k in dropped]
    cfg, meta = converter.whole_model_config(load_config(args.config), renamed)
    model = build_model_from_config(cfg)
    converted = OrderedDict(('backbone.' + k, v) for k, v in renamed.items())
    for name, value in state.items():
        if not name.startswith('backbone.'):
            new_name = converter.rename_head(name)
            if new_name is None:
                dropped.append(name)
            else:
                converted[new_name] = value
    check_against_model(
        converted,
        model,
        f'{converter.family} model of {args.config}',
        advice='Check that the config is the one of this fine-tuned '
        'checkpoint (same backbone size, head and number of classes).')
    summary = (f'{len(converted)} tensors of a fine-tuned '
               f'{converter.family} model for {args.config}; dropped '
               f'{len(dropped)} keys the model does not have')
    return converted, dict(
        meta, config=args.config, dropped=sorted(dropped)), summary


def convert_main(converter, argv=None, description=None):
    """The command line of a family's converter (see the module docstring);
    raises :class:`ToolInputError` on bad input (wrap with ``tool_main``).
    """
    args = _parser(converter, description).parse_args(argv)
    check_output_paths({'output checkpoint': args.dst},
                       inputs={
                           'source checkpoint': args.src,
                           'config': args.config
                       },
                       force=args.force)
    state = unwrap_state_dict(
        read_checkpoint(args.src), args.src, prefixes=('module.', ))
    if is_whole_model(state):
        converted, meta, summary = _convert_whole_model(converter, state, args)
    else:
        converted, meta, summary = _convert_backbone(converter, state, args)
    save_state_dict(converted, args.dst, meta=dict(meta, source=args.src))
    print(f'Converted {summary}; wrote {args.dst}.')


__all__ = [
    'BackboneConverter', 'CheckpointMismatchError', 'HEAD_PREFIXES',
    'convert_main', 'is_whole_model'
]
