#!/usr/bin/env python
"""Write small synthetic ADE20K, Cityscapes and COCO datasets in the real
on-disk layouts (class-specific coloured shapes on a textured background,
learnable in a short run). The file names are the real ones, so a non-empty
target needs ``--force``; SYNTHETIC_DATA.txt marks it (docs/training.md)."""
import argparse
import itertools
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
# Well separated BGR colours, taken in order by a scene's classes.
PALETTE = [(40, 40, 220), (40, 200, 40), (220, 60, 40), (30, 220, 230),
           (200, 40, 200), (220, 220, 40), (30, 140, 250), (140, 30, 120),
           (235, 235, 235), (25, 25, 25), (40, 80, 140), (180, 150, 250)]
MARKER = 'SYNTHETIC_DATA.txt'
_FORCE = 'write into a non-empty directory, replacing files of the same names'


def random_shape(rng, class_idx, height, width):
    """A polygon (N, 2) int32 whose shape family depends on the class."""
    cx = rng.randint(width // 8, width - width // 8)
    cy = rng.randint(height // 8, height - height // 8)
    size = rng.randint(min(height, width) // 8, min(height, width) // 3)
    if class_idx % 3 == 0:  # axis-aligned rectangle
        w, h = size, int(size * (0.6 + 0.8 * rng.rand()))
        pts = [(cx - w, cy - h), (cx + w, cy - h), (cx + w, cy + h),
               (cx - w, cy + h)]
    elif class_idx % 3 == 1:  # ellipse as a 16-gon
        ratio = 0.5 + 0.5 * rng.rand()
        pts = [(cx + size * np.cos(a), cy + ratio * size * np.sin(a))
               for a in np.linspace(0, 2 * np.pi, 16, endpoint=False)]
    else:  # triangle
        pts = [(cx, cy - size), (cx + size, cy + size), (cx - size, cy + size)]
    pts = np.array(pts, np.float64).clip(0, [width - 1, height - 1])
    return pts.round().astype(np.int32)


def draw_scene(rng, size, background_class, object_classes, max_objects):
    """Image, class map and ``(class, polygon, mask)`` objects of a scene."""
    width, height = size
    colours = dict(zip(object_classes, itertools.cycle(PALETTE)))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    shade = np.sin(xx / (7 + 20 * rng.rand()))
    shade = 20 * shade * np.cos(yy / (7 + 20 * rng.rand()))
    img = np.full((height, width, 3), 128, np.float32)  # shaded, noisy grey
    img += shade[..., None] + rng.normal(0, 8, (height, width, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    label = np.full((height, width), background_class, np.int32)
    objects = []
    for _ in range(rng.randint(1, max_objects + 1)):
        cls = int(rng.choice(object_classes))
        poly = random_shape(rng, cls, height, width)
        mask = np.zeros((height, width), np.uint8)
        cv2.fillPoly(mask, [poly], 1)
        if mask.sum() < 16:
            continue
        noisy = np.asarray(colours[cls]) + rng.normal(0, 10, img.shape)
        img[mask > 0] = np.clip(noisy[mask > 0], 0, 255).astype(np.uint8)
        label[mask > 0] = cls
        for other in objects:  # earlier objects lose the covered pixels
            other[2][mask > 0] = 0
        objects.append((cls, poly, mask))
    return img, label, [o for o in objects if o[2].sum() >= 16]


def imwrite(image, *parts):
    """Write ``image`` as uint8 to ``osp.join(*parts)`` (JPEG: quality 95)."""
    path = osp.join(*parts)
    os.makedirs(osp.dirname(path), exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.endswith('.jpg') else []
    cv2.imwrite(path, image.astype(np.uint8), params)


def make_ade20k(out, num_train, num_val, size, rng):
    """images/{training,validation}/ADE_*_%08d.jpg, annotations/.../*.png."""
    object_classes = [3, 5, 13, 16, 21, 33, 42, 77]  # floor, tree, person...
    for split, prefix, count in (('training', 'ADE_train', num_train),
                                 ('validation', 'ADE_val', num_val)):
        for i in range(1, count + 1):
            img, label, _ = draw_scene(rng, size, 1, object_classes, 4)
            label[:2, :] = 0  # a strip of 'other' (ignored after reduce)
            name = f'{split}/{prefix}_{i:08d}'
            imwrite(img, out, 'images', name + '.jpg')
            imwrite(label, out, 'annotations', name + '.png')


def make_cityscapes(out, num_train, num_val, size, rng):
    """leftImg8bit/, gtFine/ (_labelTrainIds.png 0..18 + 255, _labelIds)."""
    object_classes = [2, 8, 11, 13, 10, 5]  # building, veg., person, car...
    label_id_lut = np.zeros(256, np.uint8)  # trainId -> labelId, 255 -> 0
    label_id_lut[:19] = CITYSCAPES_TRAIN_TO_LABEL_ID
    for split, cities, count in (('train', ('aachen', 'bremen'), num_train),
                                 ('val', ('frankfurt', ), num_val)):
        for i in range(count):
            city = cities[i % len(cities)]
            img, label, _ = draw_scene(rng, size, 0, object_classes, 5)
            label[-3:, :] = 255  # ego-vehicle style ignore strip
            stem = f'{split}/{city}/{city}_{i:06d}_000019'
            imwrite(img, out, 'leftImg8bit', stem + '_leftImg8bit.png')
            gt = osp.join(out, 'gtFine', stem + '_gtFine_')
            imwrite(label, gt + 'labelTrainIds.png')
            imwrite(label_id_lut[label], gt + 'labelIds.png')


def make_coco(out, num_train, num_val, size, rng):
    """{train,val}2017/%012d.jpg, annotations/instances_*.json (80 classes)."""
    from mmdet.datasets import CocoDataset
    categories = [
        dict(id=i, name=n, supercategory='synthetic')
        for i, n in zip(COCO_CATEGORY_IDS, CocoDataset.METAINFO['classes'])
    ]
    object_classes = [0, 1, 2, 15, 16, 56]  # person, bicycle, car, cat...
    os.makedirs(osp.join(out, 'annotations'), exist_ok=True)
    (w, h), image_id, ann_id = size, 0, 0
    for split, count in (('train2017', num_train), ('val2017', num_val)):
        data = dict(images=[], annotations=[], categories=categories)
        for _ in range(count):
            image_id += 1
            img, _, objects = draw_scene(rng, size, 60, object_classes, 4)
            file_name = f'{image_id:012d}.jpg'
            imwrite(img, out, split, file_name)
            data['images'].append(
                dict(id=image_id, file_name=file_name, height=h, width=w))
            for cls, _, mask in objects:
                contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL,
                                               cv2.CHAIN_APPROX_SIMPLE)
                contours = [c for c in contours if len(c) >= 3]
                polys = [c.ravel().astype(float).tolist() for c in contours]
                if not polys:
                    continue
                ann_id += 1
                data['annotations'].append(
                    dict(
                        id=ann_id,
                        image_id=image_id,
                        category_id=COCO_CATEGORY_IDS[cls],
                        segmentation=polys,
                        area=float(mask.sum()),
                        bbox=[float(v) for v in cv2.boundingRect(mask)],
                        iscrowd=0))
        path = osp.join(out, 'annotations', f'instances_{split}.json')
        with open(path, 'w') as f:
            json.dump(data, f)


MAKERS = dict(
    ade20k=(make_ade20k, (256, 256)),
    cityscapes=(make_cityscapes, (512, 256)),
    coco=(make_coco, (320, 256)))


def check_target(out, force):
    """Why the target is refused (a file, or non-empty without ``force``)."""
    if osp.exists(out) and not osp.isdir(out):
        return f'{out!r} exists and is not a directory.'
    if osp.isdir(out) and os.listdir(out) and not force:
        what = ('synthetic data written by this tool' if osp.isfile(
            osp.join(out, MARKER)) else 'files (possibly the real dataset)')
        return (f'{out!r} is not empty: it holds {what}, and the synthetic '
                'files have the real datasets\' names. Choose an empty or '
                'new directory, or pass --force to write into it.')
    return None


def main(argv=None):
    # Imports nothing from mmreplk (starts faster): tool_main's exit by hand.
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('dataset', choices=sorted(MAKERS))
    parser.add_argument('out', help='dataset root (empty or new)')
    parser.add_argument('--num', type=int, default=32, help='training images')
    parser.add_argument('--num-val', type=int, help='default: num/4, >= 2')
    parser.add_argument('--size', type=int, nargs=2, metavar=('W', 'H'))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true', help=_FORCE)
    args = parser.parse_args(argv)
    problem = '--num must be >= 1.' if args.num < 1 else check_target(
        args.out, args.force)
    if problem:
        print(f'error: {problem}', file=sys.stderr)
        return 2
    maker, default_size = MAKERS[args.dataset]
    num_val = max(2, args.num // 4) if args.num_val is None else args.num_val
    size = tuple(args.size or default_size)
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, MARKER), 'w') as f:
        f.write(
            'SYNTHETIC DATA - not the real dataset.\n\n'
            f'Written by mmreplk\'s make_synthetic.py in the on-disk layout '
            f'of {args.dataset}:\n{args.num} training and {num_val} '
            f'validation images of {size[0]}x{size[1]} pixels, coloured '
            f'shapes on a textured background, seed {args.seed}.\n'
            'Command: python tools/dataset_converters/make_synthetic.py '
            f"{' '.join(argv)}\n"
            'Metrics measured on it say nothing about the real dataset.\n')
    maker(args.out, args.num, num_val, size, np.random.RandomState(args.seed))
    print(f'Wrote synthetic {args.dataset} ({args.num} train, {num_val} val) '
          f'to {args.out} (marked by {MARKER})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
