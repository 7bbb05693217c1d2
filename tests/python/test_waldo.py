"""The "Where's Waldo" canvases built from real digits and the IoU measure
(the examples that use them: test_examples.py)."""

import numpy as np
import pytest

import pyconv
from pyconv.datasets import waldo

@pytest.fixture(scope="module")
def digits():
    (x, y), _ = pyconv.datasets.mnist.load_sample(num_test=100)
    return x[:2000], y[:2000]


def test_canvases_and_masks(digits):
    x, y = digits
    canvases, masks = waldo.make_canvases(x, y, target=3, count=200, size=(40, 48), seed=1)
    assert canvases.shape == masks.shape == (200, 40, 48, 1)
    assert canvases.dtype == masks.dtype == np.float32
    assert 0 <= canvases.min() and canvases.max() <= 1
    assert np.all(canvases[masks > 0] > 0.5)  # a mask pixel is a bright stroke
    with_target = (masks.reshape(200, -1).sum(axis=1) > 0).mean()
    assert 0.3 < with_target < 0.7
    again, _ = waldo.make_canvases(x, y, target=3, count=200, size=(40, 48), seed=1)
    np.testing.assert_array_equal(again, canvases)  # the seed decides everything


def test_masks_follow_only_the_target_digits(digits):
    x, y = digits
    only_threes = np.flatnonzero(y == 3)[:1]
    others = np.flatnonzero(y != 3)[:50]
    picks = np.concatenate([only_threes, others])
    canvases, masks = waldo.make_canvases(x[picks], y[picks], target=3, count=100,
                                          size=(28, 28), digits=(1, 1), seed=2)
    three = x[only_threes[0]] / 255.0 > 0.5
    for canvas, mask in zip(canvases[..., 0], masks[..., 0]):
        if mask.any():  # this canvas is the 3 itself: its strokes are the mask
            np.testing.assert_array_equal(mask > 0, three)


def test_bad_arguments(digits):
    x, y = digits
    with pytest.raises(ValueError, match="at least the digits' 28x28"):
        waldo.make_canvases(x, y, 3, 5, size=(20, 40))
    with pytest.raises(ValueError, match="class 11"):
        waldo.make_canvases(x, y, 11, 5)
    with pytest.raises(ValueError, match="count must be a positive integer"):
        waldo.make_canvases(x, y, 3, 0)


def test_iou():
    truth = np.zeros((2, 4, 4, 1), np.float32)
    truth[0, :2] = 1                       # 8 target pixels of 32
    guess = np.zeros_like(truth)
    guess[0, :1] = 0.9                     # 4 of them found
    guess[1, 0, 0] = 0.9                   # and one false alarm
    assert waldo.foreground_iou(truth, guess) == pytest.approx(4 / 9)
    background = 23 / 28                   # 24 true background pixels, 27 predicted
    assert waldo.mean_iou(truth, guess) == pytest.approx((4 / 9 + background) / 2)
    assert waldo.mean_iou(truth, np.zeros_like(truth)) == pytest.approx(12 / 32)
    with pytest.raises(ValueError, match="one shape"):
        waldo.mean_iou(truth, guess[:1])
