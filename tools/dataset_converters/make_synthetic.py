#!/usr/bin/env python
"""Write small synthetic datasets in the on-disk layouts of ADE20K,
Cityscapes and COCO, read by the real mmseg/mmdet dataset classes: coloured
class-specific shapes on a textured background, learnable in a short run.
The files have the real datasets' names, so a non-empty target is refused
without ``--force``, and ``SYNTHETIC_DATA.txt`` marks the root
(docs/training.md).

    python tools/dataset_converters/make_synthetic.py ade20k \
        data/synthetic/ade/ADEChallengeData2016 --num 64
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
    """Image, class map and the ``(class, polygon, mask)`` objects."""
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


def imwrite(path, image):
    """Write an image (JPEG: quality 95), creating its directory."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    jpeg = path.endswith('.jpg')
    cv2.imwrite(path, image, [cv2.IMWRITE_JPEG_QUALITY, 95] if jpeg else [])


def make_ade20k(out, num_train, num_val, size, seed):
    """images/{training,validation}/ADE_*_%08d.jpg and annotations/.../*.png
    (0 = 'other', 1..150 the classes)."""
    rng = np.random.RandomState(seed)
    object_classes = [3, 5, 13, 16, 21, 33, 42, 77]  # floor, tree, person...
    for split, prefix, count in (('training', 'ADE_train', num_train),
                                 ('validation', 'ADE_val', num_val)):
        for i in range(1, count + 1):
            img, label, _ = draw_scene(rng, size[1], size[0], 1,
                                       object_classes, 4)
            label[:2, :] = 0  # a strip of 'other' (ignored after reduce)
            name = f'{split}/{prefix}_{i:08d}'
            imwrite(osp.join(out, 'images', name + '.jpg'), img)
            imwrite(
                osp.join(out, 'annotations', name + '.png'),
                label.astype(np.uint8))


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
            stem = f'{split}/{city}/{city}_{i:06d}_000019'
            imwrite(
                osp.join(out, 'leftImg8bit', stem + '_leftImg8bit.png'), img)
            gt = osp.join(out, 'gtFine', stem + '_gtFine_')
            imwrite(gt + 'labelTrainIds.png', label.astype(np.uint8))
            label_ids = np.zeros_like(label)
            for train_id, label_id in enumerate(CITYSCAPES_TRAIN_TO_LABEL_ID):
                label_ids[label == train_id] = label_id
            imwrite(gt + 'labelIds.png', label_ids.astype(np.uint8))


def make_coco(out, num_train, num_val, size, seed):
    """{train,val}2017/%012d.jpg and annotations/instances_{split}2017.json
    (polygons, boxes, areas, the 80 COCO categories)."""
    from mmdet.datasets import CocoDataset
    rng = np.random.RandomState(seed)
    categories = [
        dict(id=cid, name=name,
             supercategory='synthetic') for cid, name in zip(
                 COCO_CATEGORY_IDS, CocoDataset.METAINFO['classes'])
    ]
    object_classes = [0, 1, 2, 15, 16, 56]  # person, bicycle, car, cat...
    os.makedirs(osp.join(out, 'annotations'), exist_ok=True)
    image_id, ann_id = 0, 0
    for split, count in (('train2017', num_train), ('val2017', num_val)):
        images, annotations = [], []
        for _ in range(count):
            image_id += 1
            img, _, objects = draw_scene(rng, size[1], size[0], 60,
                                         object_classes, 4)
            file_name = f'{image_id:012d}.jpg'
            imwrite(osp.join(out, split, file_name), img)
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
                ann_id += 1
                annotations.append(
                    dict(
                        id=ann_id,
                        image_id=image_id,
                        category_id=COCO_CATEGORY_IDS[cls],
                        segmentation=polys,
                        area=float(mask.sum()),
                        bbox=[float(v) for v in cv2.boundingRect(mask)],
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
    parser.add_argument('out', help='dataset root (empty or new)')
    parser.add_argument('--num', type=int, default=32, help='training images')
    parser.add_argument('--num-val', type=int, help='default: num/4, >= 2')
    parser.add_argument('--size', type=int, nargs=2, metavar=('W', 'H'))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--force',
        action='store_true',
        help='write into a non-empty directory, replacing files of the same '
        'names')
    return parser.parse_args(argv)


MARKER = 'SYNTHETIC_DATA.txt'


def check_target(out, force):
    """The reason to refuse the target (a file, or a non-empty directory
    without ``force``), or None."""
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
    # Imports nothing from mmreplk (it starts faster): tool_main's exit
    # convention by hand.
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
