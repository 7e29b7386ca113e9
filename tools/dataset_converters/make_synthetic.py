#!/usr/bin/env python
"""Write small synthetic datasets in the exact on-disk layouts of ADE20K,
Cityscapes and COCO, so the real mmseg/mmdet dataset classes read them.

Every object class has its own colour and shape, drawn on a textured
background, so a short training run learns something measurable (it beats
chance), which is what tests and ``make demo`` need. No real data is used.

The file names are the real datasets' names, so the tool refuses a target
directory that is not empty (it may hold the real dataset) unless ``--force``
is given, and writes ``SYNTHETIC_DATA.txt`` into the root saying that the
data is synthetic and how it was made.

Examples (point a config at them with ``--cfg-options
train_dataloader.dataset.data_root=...``):
    python tools/dataset_converters/make_synthetic.py ade20k \
        data/synthetic/ade/ADEChallengeData2016 --num 64
    python tools/dataset_converters/make_synthetic.py cityscapes \
        data/synthetic/cityscapes --num 16
    python tools/dataset_converters/make_synthetic.py coco \
        data/synthetic/coco --num 16
"""
import argparse
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np

# Real COCO category ids: 1..90 with these ten ids unused.
_COCO_UNUSED_IDS = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}
COCO_CATEGORY_IDS = [i for i in range(1, 91) if i not in _COCO_UNUSED_IDS]
# Cityscapes trainId -> labelId (gtFine_labelIds), for the 19 train classes.
CITYSCAPES_TRAIN_TO_LABEL_ID = [
    7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33
]

# Well separated BGR colours; a scene's classes take them in order, the
# background gets a mid grey.
PALETTE = [(40, 40, 220), (40, 200, 40), (220, 60, 40), (30, 220, 230),
           (200, 40, 200), (220, 220, 40), (30, 140, 250), (140, 30, 120),
           (235, 235, 235), (25, 25, 25), (40, 80, 140), (180, 150, 250)]
BACKGROUND_COLOUR = (128, 128, 128)


def class_colours(background_class, object_classes):
    """``{class: BGR colour}`` for one dataset's classes."""
    colours = {background_class: BACKGROUND_COLOUR}
    for i, cls in enumerate(object_classes):
        colours[cls] = PALETTE[i % len(PALETTE)]
    return colours


def textured_background(rng, height, width, colour):
    """``colour`` plus low-frequency shading and pixel noise."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    shade = 20 * np.sin(xx /
                        (7 + 20 * rng.rand())) * np.cos(yy /
                                                        (7 + 20 * rng.rand()))
    img = np.empty((height, width, 3), np.float32)
    img[:] = colour
    img += shade[..., None] + rng.normal(0, 8, (height, width, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def random_shape(rng, class_idx, height, width):
    """A polygon (N, 2) int32 whose shape family depends on the class."""
    cx, cy = rng.randint(width // 8, width - width // 8), rng.randint(
        height // 8, height - height // 8)
    size = rng.randint(min(height, width) // 8, min(height, width) // 3)
    family = class_idx % 3
    if family == 0:  # axis-aligned rectangle
        w, h = size, int(size * (0.6 + 0.8 * rng.rand()))
        pts = [(cx - w, cy - h), (cx + w, cy - h), (cx + w, cy + h),
               (cx - w, cy + h)]
    elif family == 1:  # ellipse as a 16-gon
        angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        ratio = 0.5 + 0.5 * rng.rand()
        pts = [(cx + size * np.cos(a), cy + ratio * size * np.sin(a))
               for a in angles]
    else:  # triangle
        pts = [(cx, cy - size), (cx + size, cy + size), (cx - size, cy + size)]
    pts = np.array(pts, dtype=np.float64)
    pts[:, 0] = pts[:, 0].clip(0, width - 1)
    pts[:, 1] = pts[:, 1].clip(0, height - 1)
    return pts.round().astype(np.int32)


def draw_scene(rng, height, width, background_class, object_classes,
               max_objects):
    """Image, per-pixel class map and the list of (class, polygon, mask)."""
    colours = class_colours(background_class, object_classes)
    img = textured_background(rng, height, width, colours[background_class])
    label = np.full((height, width), background_class, np.int32)
    objects = []
    for _ in range(rng.randint(1, max_objects + 1)):
        cls = int(rng.choice(object_classes))
        poly = random_shape(rng, cls, height, width)
        mask = np.zeros((height, width), np.uint8)
        cv2.fillPoly(mask, [poly], 1)
        if mask.sum() < 16:
            continue
        colour = np.array(colours[cls], np.float32)
        noisy = colour + rng.normal(0, 10, (height, width, 3))
        img[mask > 0] = np.clip(noisy[mask > 0], 0, 255).astype(np.uint8)
        label[mask > 0] = cls
        # Earlier objects lose the pixels a later one covers.
        for other in objects:
            other[2][mask > 0] = 0
        objects.append((cls, poly, mask))
    objects = [o for o in objects if o[2].sum() >= 16]
    return img, label, objects


def make_ade20k(out, num_train, num_val, size, seed):
    """ADEChallengeData2016: images/{training,validation}/ADE_*_%08d.jpg and
    annotations/.../*.png with 0 = 'other' and 1..150 the classes."""
    rng = np.random.RandomState(seed)
    object_classes = [3, 5, 13, 16, 21, 33, 42, 77]  # floor, tree, person...
    for split, prefix, count in (('training', 'ADE_train', num_train),
                                 ('validation', 'ADE_val', num_val)):
        img_dir = osp.join(out, 'images', split)
        ann_dir = osp.join(out, 'annotations', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for i in range(1, count + 1):
            img, label, _ = draw_scene(rng, size[1], size[0], 1,
                                       object_classes, 4)
            label[:2, :] = 0  # a strip of 'other' (ignored after reduce)
            name = f'{prefix}_{i:08d}'
            cv2.imwrite(
                osp.join(img_dir, name + '.jpg'), img,
                [cv2.IMWRITE_JPEG_QUALITY, 95])
            cv2.imwrite(
                osp.join(ann_dir, name + '.png'), label.astype(np.uint8))


def make_cityscapes(out, num_train, num_val, size, seed):
    """leftImg8bit/{split}/{city}/{city}_%06d_%06d_leftImg8bit.png and
    gtFine/... _gtFine_labelTrainIds.png (0..18, 255 ignore) plus
    _gtFine_labelIds.png."""
    rng = np.random.RandomState(seed)
    object_classes = [2, 8, 11, 13, 10, 5]  # building, veg., person, car...
    for split, cities, count in (('train', ('aachen', 'bremen'), num_train),
                                 ('val', ('frankfurt', ), num_val)):
        for i in range(count):
            city = cities[i % len(cities)]
            img, label, _ = draw_scene(rng, size[1], size[0], 0,
                                       object_classes, 5)
            label[-3:, :] = 255  # ego-vehicle style ignore strip
            stem = f'{city}_{i:06d}_000019'
            img_dir = osp.join(out, 'leftImg8bit', split, city)
            gt_dir = osp.join(out, 'gtFine', split, city)
            os.makedirs(img_dir, exist_ok=True)
            os.makedirs(gt_dir, exist_ok=True)
            cv2.imwrite(osp.join(img_dir, stem + '_leftImg8bit.png'), img)
            cv2.imwrite(
                osp.join(gt_dir, stem + '_gtFine_labelTrainIds.png'),
                label.astype(np.uint8))
            label_ids = np.zeros_like(label)
            for train_id, label_id in enumerate(CITYSCAPES_TRAIN_TO_LABEL_ID):
                label_ids[label == train_id] = label_id
            cv2.imwrite(
                osp.join(gt_dir, stem + '_gtFine_labelIds.png'),
                label_ids.astype(np.uint8))


def coco_class_names():
    from mmdet.datasets import CocoDataset
    return list(CocoDataset.METAINFO['classes'])


def make_coco(out, num_train, num_val, size, seed):
    """{train,val}2017/%012d.jpg and annotations/instances_{split}2017.json
    with polygon masks, boxes, areas and all 80 COCO categories."""
    rng = np.random.RandomState(seed)
    names = coco_class_names()
    categories = [
        dict(id=cid, name=name, supercategory='synthetic')
        for cid, name in zip(COCO_CATEGORY_IDS, names)
    ]
    object_classes = [0, 1, 2, 15, 16, 56]  # person, bicycle, car, cat...
    os.makedirs(osp.join(out, 'annotations'), exist_ok=True)
    image_id, ann_id = 0, 0
    for split, count in (('train2017', num_train), ('val2017', num_val)):
        os.makedirs(osp.join(out, split), exist_ok=True)
        images, annotations = [], []
        for _ in range(count):
            image_id += 1
            img, _, objects = draw_scene(rng, size[1], size[0], 60,
                                         object_classes, 4)
            file_name = f'{image_id:012d}.jpg'
            cv2.imwrite(
                osp.join(out, split, file_name), img,
                [cv2.IMWRITE_JPEG_QUALITY, 95])
            images.append(
                dict(
                    id=image_id,
                    file_name=file_name,
                    height=size[1],
                    width=size[0]))
            for cls, _, mask in objects:
                contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL,
                                               cv2.CHAIN_APPROX_SIMPLE)
                polys = [
                    c.reshape(-1).astype(float).tolist() for c in contours
                    if len(c) >= 3
                ]
                if not polys:
                    continue
                x, y, w, h = cv2.boundingRect(mask)
                ann_id += 1
                annotations.append(
                    dict(
                        id=ann_id,
                        image_id=image_id,
                        category_id=COCO_CATEGORY_IDS[cls],
                        segmentation=polys,
                        area=float(mask.sum()),
                        bbox=[float(x), float(y),
                              float(w), float(h)],
                        iscrowd=0))
        with open(
                osp.join(out, 'annotations', f'instances_{split}.json'),
                'w') as f:
            json.dump(
                dict(
                    images=images,
                    annotations=annotations,
                    categories=categories), f)


MAKERS = dict(
    ade20k=(make_ade20k, (256, 256)),
    cityscapes=(make_cityscapes, (512, 256)),
    coco=(make_coco, (320, 256)))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('dataset', choices=sorted(MAKERS))
    parser.add_argument(
        'out',
        help='dataset root to create, e.g. '
        'data/synthetic/ade/ADEChallengeData2016 (must be '
        'empty or absent unless --force)')
    parser.add_argument(
        '--num', type=int, default=32, help='number of training images')
    parser.add_argument(
        '--num-val',
        type=int,
        default=None,
        help='number of validation images (default num/4, '
        'at least 2)')
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=None,
        metavar=('W', 'H'),
        help='image size')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--force',
        action='store_true',
        help='write into a non-empty directory, replacing '
        'files of the same names')
    return parser.parse_args(argv)


MARKER = 'SYNTHETIC_DATA.txt'


def check_target(out, force):
    """Refuse a target that is a file, or a non-empty directory without
    ``force``; return an error message or ``None``."""
    if osp.exists(out) and not osp.isdir(out):
        return f'{out!r} exists and is not a directory.'
    if osp.isdir(out) and os.listdir(out) and not force:
        what = ('synthetic data written by this tool' if osp.isfile(
            osp.join(out, MARKER)) else 'files (possibly the real dataset)')
        return (f'{out!r} is not empty: it holds {what}, and the synthetic '
                'files have the real datasets\' names. Choose an empty or '
                'new directory, or pass --force to write into it.')
    return None


def write_marker(out, args, num_val, size, argv):
    """Say in the dataset root that its contents are synthetic."""
    command = ' '.join(
        ['python', 'tools/dataset_converters/make_synthetic.py'] + list(argv))
    with open(osp.join(out, MARKER), 'w') as f:
        f.write(
            'SYNTHETIC DATA - not the real dataset.\n\n'
            f'Written by mmreplk\'s make_synthetic.py in the on-disk layout '
            f'of {args.dataset}:\n{args.num} training and {num_val} '
            f'validation images of {size[0]}x{size[1]} pixels, coloured '
            f'shapes on a textured background, seed {args.seed}.\n'
            f'Command: {command}\n'
            'Metrics measured on it say nothing about the real dataset.\n')


def main(argv=None):
    # Imports nothing from mmreplk (making data needs only numpy and OpenCV,
    # and starts in a fraction of the time), so it follows the tools' exit
    # convention of mmreplk.utils.tool_main by hand: error line, status 2.
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.num < 1:
        print('error: --num must be >= 1.', file=sys.stderr)
        return 2
    problem = check_target(args.out, args.force)
    if problem:
        print(f'error: {problem}', file=sys.stderr)
        return 2
    maker, default_size = MAKERS[args.dataset]
    num_val = args.num_val if args.num_val is not None else max(
        2, args.num // 4)
    size = tuple(args.size or default_size)
    os.makedirs(args.out, exist_ok=True)
    write_marker(args.out, args, num_val, size, argv)
    maker(args.out, args.num, num_val, size, args.seed)
    print(f'Wrote synthetic {args.dataset} ({args.num} train, {num_val} val) '
          f'to {args.out} (marked by {MARKER})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
