"""The "Where's Waldo" segmentation task, built from real digits: canvases
larger than a digit, cluttered with several digits at random places, and for
each a per-pixel mask of where one chosen digit class (the "Waldo") is.

    (x, y), _ = pyconv.datasets.mnist.load_sample()
    canvases, masks = pyconv.datasets.waldo.make_canvases(x, y, target=3, count=500)
"""

import numbers

import numpy as np


def make_canvases(images, labels, target, count, size=(48, 48), digits=(2, 5), seed=0):
    """`count` canvases of `size` pixels and their masks, both float32
    (count, H, W, 1). Each canvas holds `digits[0]` to `digits[1]` digits
    drawn from `images` (uint8 or float, (N, 28, 28)), pasted at random
    places (overlaps keep the brighter pixel); about half of the canvases hold
    at least one digit of class `target`. A mask pixel is 1 where a target
    digit's stroke (intensity above half) lies and no other digit covers it."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(f"expected images (N, H, W) and N labels, received {images.shape} "
                         f"and {labels.shape}")
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count <= 0:
        raise ValueError(f"count must be a positive integer, received {count!r}")
    h, w = images.shape[1:]
    if size[0] < h or size[1] < w:
        raise ValueError(f"size must be at least the digits' {h}x{w}, received {size}")
    is_target = labels == target
    if not is_target.any() or is_target.all():
        raise ValueError(f"labels must hold digits of class {target} and of other classes")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    rng = np.random.default_rng(seed)
    targets, others = np.flatnonzero(is_target), np.flatnonzero(~is_target)
    canvases = np.zeros((count,) + tuple(size) + (1,), np.float32)
    masks = np.zeros_like(canvases)
    for n in range(count):
        k = int(rng.integers(digits[0], digits[1] + 1))
        with_target = rng.random() < 0.5
        picks = [rng.choice(targets)] if with_target else []
        picks += list(rng.choice(others, size=k - len(picks)))
        owner = np.full(size, -1)  # which pasted digit a pixel's value came from
        for j, index in enumerate(rng.permutation(picks)):
            top = int(rng.integers(0, size[0] - h + 1))
            left = int(rng.integers(0, size[1] - w + 1))
            digit = images[index].astype(np.float32) / scale
            region = canvases[n, top:top + h, left:left + w, 0]
            brighter = digit > region
            region[brighter] = digit[brighter]
            owner[top:top + h, left:left + w][brighter] = index
        strokes = canvases[n, ..., 0] > 0.5
        masks[n, ..., 0] = strokes & np.isin(owner, targets)
    return canvases, masks


def foreground_iou(masks, predictions, threshold=0.5):
    """Intersection over union of all predicted target pixels (> threshold)
    with all true ones, over the whole set (0 when the model finds nothing)."""
    truth, guess = _binary(masks, predictions, threshold)
    union = np.count_nonzero(truth | guess)
    return float(np.count_nonzero(truth & guess) / union) if union else 1.0


def mean_iou(masks, predictions, threshold=0.5):
    """The mean over the two classes, target and background, of each one's
    intersection over union over the whole set (Keras's MeanIoU with
    num_classes=2). Predicting nothing scores about 0.5 (background alone)."""
    truth, guess = _binary(masks, predictions, threshold)
    return 0.5 * (foreground_iou(truth, guess) + foreground_iou(~truth, ~guess))


def _binary(masks, predictions, threshold):
    truth = np.asarray(masks) > 0.5
    guess = np.asarray(predictions) > threshold
    if truth.shape != guess.shape:
        raise ValueError(f"masks and predictions must have one shape, received {truth.shape} "
                         f"and {guess.shape}")
    return truth, guess
