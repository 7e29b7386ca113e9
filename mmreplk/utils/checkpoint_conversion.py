"""The one driver of the official-checkpoint converters.

Each family's ``tools/model_converters/<family>_official.py`` subclasses
:class:`BackboneConverter` (rename table, arch inference, target backbone)
and calls :func:`convert_main`, which does the rest alike for every family:
refuse an output that exists (without ``--force``) or is the source, read
the source safely, convert an ImageNet checkpoint to backbone keys or a
fine-tuned segmentor/detector checkpoint (``--config``) to whole-model keys
(head keys through :meth:`BackboneConverter.rename_head`, the model adapted
by :meth:`BackboneConverter.whole_model_config`), check the result strictly
against its target and write it atomically (docs/tools.md).
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
    """What one family says about its official checkpoints: subclasses set
    the attributes and implement :meth:`infer_arch` and
    :meth:`build_backbone`; the other methods have defaults."""
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
    #: For the default :meth:`infer_arch`: the converted key whose first
    #: dimension (the stem width) tells the arch, and ``{width: arch}``.
    width_key = None
    width_to_arch = {}
    #: For the default :meth:`reconcile`: keys of the dense backbone that no
    #: ImageNet checkpoint has (initialised as the backbone is), a compiled
    #: pattern or None.
    fresh = None

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
        """The arch name of a converted backbone state dict (by default from
        the stem width); raise :class:`CheckpointMismatchError` when it
        cannot be told."""
        weight = converted.get(self.width_key)
        if weight is None:
            raise CheckpointMismatchError(
                f'No {self.width_key} in the checkpoint: not a '
                f'{self.family} checkpoint (or pass --arch).')
        if weight.shape[0] not in self.width_to_arch:
            raise CheckpointMismatchError(
                f'Stem width {weight.shape[0]} matches no {self.family} arch '
                f'{self.width_to_arch}; pass --arch.')
        return self.width_to_arch[weight.shape[0]]

    def build_backbone(self, arch, converted, args):
        """``(backbone, meta)``: the module the converted state must match
        and facts for the checkpoint's ``meta`` (e.g. the deploy form)."""
        raise NotImplementedError

    def reconcile(self, converted, dropped, backbone):
        """Bring an ImageNet checkpoint to the dense backbone: add the keys
        no ImageNet checkpoint has (by default those matching :attr:`fresh`;
        returned, for the report) or drop those the backbone lacks (appended
        to ``dropped``)."""
        added = []
        for key, value in backbone.state_dict().items():
            if self.fresh is not None and self.fresh.match(key) \
                    and key not in converted:
                converted[key] = value.clone()
                added.append(key)
        return added


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
    """A family's converter command line; raises :class:`ToolInputError` on
    bad input (wrap with ``tool_main``)."""
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
