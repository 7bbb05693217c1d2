"""The "Where's Waldo" detector: a fully convolutional network trained on
single 28x28 digits ("is this a 3?"), then slid over a large cluttered canvas
in one pass. Its weights do not depend on the image size, so the same
layers, rebuilt for the canvas's size, give a heat map of where 3s are.

    python examples/python/waldo_detector.py [--target 3] [--epochs 3] [--out waldo.png]
"""

import argparse

import numpy as np

import pyconv
from pyconv import layers as L


def detector(input_shape):
    """Convolutions only: a 28x28 digit maps to one output, a larger canvas
    to a map of outputs, one per 28x28 window (4 pixels apart)."""
    inp = pyconv.Input(input_shape)
    x = L.Conv2D(16, 5, activation="relu")(inp)          # 24
    x = L.MaxPooling2D(2)(x)                              # 12
    x = L.Conv2D(32, 5, activation="relu")(x)             # 8
    x = L.MaxPooling2D(2)(x)                              # 4
    x = L.Conv2D(64, 4, activation="relu")(x)             # 1: the dense layer as a convolution
    return pyconv.Model(inp, L.Conv2D(1, 1, activation="sigmoid")(x), name="detector")


def crops_without(images, labels, target, count, seed=4):
    """Random 28x28 crops of cluttered canvases that hold no target stroke."""
    canvases, masks = pyconv.datasets.waldo.make_canvases(images, labels, target, count,
                                                          size=(56, 56), seed=seed)
    rng = np.random.default_rng(seed)
    crops = []
    for canvas, mask in zip(canvases, masks):
        top, left = rng.integers(0, 29, size=2)
        if not mask[top:top + 28, left:left + 28].any():
            crops.append(canvas[top:top + 28, left:left + 28])
    return np.asarray(crops, np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", help="also draw the canvas and its heat map into this PNG "
                                      "(needs matplotlib: pip install pyconv[plot])")
    args = parser.parse_args()

    (x, y), (x_test, y_test) = pyconv.datasets.mnist.load_sample(num_test=2000)
    x, x_test = pyconv.data.normalize(x)[..., None], pyconv.data.normalize(x_test)[..., None]
    is_target = (y == args.target).astype(np.float32).reshape(-1, 1, 1, 1)
    # Sliding windows also see empty space and parts of digits: crops of
    # cluttered canvases without a target are taught as "no".
    clutter = crops_without(x[..., 0], y, args.target, count=4000)
    x_train = np.concatenate([x, clutter])
    y_train = np.concatenate([is_target, np.zeros((len(clutter), 1, 1, 1), np.float32)])
    pyconv.set_seed(0)
    model = detector((28, 28, 1))
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=64, verbose=0)
    truth = (y_test == args.target).astype(np.float32).reshape(-1, 1, 1, 1)
    _, accuracy = model.evaluate(x_test, truth, verbose=0)
    print(f"digit classifier: {accuracy:.3f} accuracy on held-out digits")

    canvases, masks = pyconv.datasets.waldo.make_canvases(x_test[..., 0], y_test, args.target,
                                                          1, size=(112, 112), digits=(6, 6),
                                                          seed=3)
    canvas = canvases[:1]
    sliding = detector(canvas.shape[1:])
    sliding.set_weights(model.get_weights())
    heat = sliding.predict(canvas, verbose=0)[0, ..., 0]  # one score per 28x28 window
    rows, cols = np.unravel_index(np.argmax(heat), heat.shape)
    # Where the target's strokes are, seen through the same 28x28 windows.
    coverage = np.array([[masks[0, 4 * r:4 * r + 28, 4 * c:4 * c + 28].mean()
                          for c in range(heat.shape[1])] for r in range(heat.shape[0])])
    print(f"heat map {heat.shape}: strongest at window ({4 * rows}, {4 * cols}), score "
          f"{heat.max():.3f}; that window is {coverage[rows, cols]:.0%} {args.target}-strokes, "
          f"the canvas as a whole {masks.mean():.1%}")
    for r in range(heat.shape[0]):  # the heat map, as text
        print("".join(" .:-=+*#%@"[min(9, int(v * 10))] for v in heat[r]))
    if args.out:
        print(f"wrote {pyconv.utils.plot_heat_map(canvas[0], heat, args.out)}")


if __name__ == "__main__":
    main()
