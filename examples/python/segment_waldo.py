"""Segmentation on real digits: find every "3" on cluttered canvases.

Trains U-Net, FCN-8s and SegNet from pyconv.applications on canvases of
MNIST digits (pyconv.datasets.waldo) and prints, on held-out canvases, each
one's IoU of the target pixels and its mean IoU over target and background
(predicting nothing scores 0 and about 0.5), and its training time.

    python examples/python/segment_waldo.py [--epochs 15] [--canvases 1200]
"""

import argparse
import time

import numpy as np

import pyconv


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--canvases", type=int, default=1200)
    parser.add_argument("--models", default="unet,fcn8s,segnet")
    parser.add_argument("--target", type=int, default=3)
    args = parser.parse_args()

    (x, y), (x_test, y_test) = pyconv.datasets.mnist.load_sample(num_test=3000)
    train, train_masks = pyconv.datasets.waldo.make_canvases(x, y, args.target, args.canvases,
                                                             size=(48, 48), seed=0)
    test, test_masks = pyconv.datasets.waldo.make_canvases(x_test, y_test, args.target, 300,
                                                           size=(48, 48), seed=1)
    pyconv.set_seed(0)
    for name in args.models.split(","):
        model = pyconv.applications.SEGMENTERS[name](input_shape=(48, 48, 1))
        model.compile(pyconv.optimizers.Adam(3e-3), "binary_crossentropy")
        start = time.perf_counter()
        model.fit(train, train_masks, epochs=args.epochs, batch_size=32, verbose=0)
        seconds = time.perf_counter() - start
        predicted = model.predict(test, verbose=0)
        found = pyconv.datasets.waldo.foreground_iou(test_masks, predicted)
        iou = pyconv.datasets.waldo.mean_iou(test_masks, predicted)
        print(f"{name:8s} target IoU {found:.3f}  mean IoU {iou:.3f}  "
              f"({seconds / args.epochs:.1f} s per epoch)", flush=True)


if __name__ == "__main__":
    main()
