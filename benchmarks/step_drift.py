"""Whether a zoo model's training step slows down as it trains: the median
step time of each block of steps, on consecutive Fashion-MNIST batches
(batch 64, Adam(1e-3)), pyconv alone.

    python benchmarks/step_drift.py [--model resnet20] [--steps 80] [--block 10]

Tiny gradients and Adam's second moments drift into the denormal float range
as training goes on, where x86 cores take a slow path per operation; pyconv
flushes denormals to zero while it computes (src/cpp/core/denormals.h). A
last block much slower than the first means something of that kind is back.
On a shared machine single blocks can fall in a slow spell: compare several
runs.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import timing  # noqa: E402  (no numpy inside: safe before thread_env)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet20", help="a pyconv.applications classifier")
    p.add_argument("--steps", type=int, default=80, help="training steps (default 80)")
    p.add_argument("--block", type=int, default=10, help="steps per median (default 10)")
    p.add_argument("--threads", type=int, default=2, help="threads (default 2)")
    args = p.parse_args(argv)
    if args.steps < 2 * args.block or args.block < 1:
        p.error("--steps must cover at least two blocks of --block >= 1 steps")
    return args


def main(argv=None):
    args = parse_args(argv)
    timing.thread_env(args.threads)
    import numpy as np

    import pyconv
    from bench_train import BATCH, LR, load_images

    pyconv.set_num_threads(args.threads)
    if args.model not in pyconv.applications.CLASSIFIERS:
        sys.exit(f"unknown model {args.model!r}; expected one of "
                 f"{', '.join(pyconv.applications.CLASSIFIERS)}")
    x_all, y_all, data_note = load_images()
    n = args.steps * BATCH
    x = pyconv.data.normalize(x_all[:n]).reshape(-1, 28, 28, 1)
    y = np.ascontiguousarray(y_all[:n])
    pyconv.set_seed(0)
    model = pyconv.applications.CLASSIFIERS[args.model](input_shape=(28, 28, 1), num_classes=10)
    model.compile(pyconv.optimizers.Adam(LR), "sparse_categorical_crossentropy")
    times = []
    for i in range(len(x) // BATCH):
        batch = slice(i * BATCH, (i + 1) * BATCH)
        start = time.perf_counter()
        model.train_on_batch(x[batch], y[batch])
        times.append(time.perf_counter() - start)
    medians = [float(np.median(times[i:i + args.block])) * 1e3
               for i in range(0, len(times) - args.block + 1, args.block)]
    print(f"{args.model}, {data_note}, batch {BATCH}, {args.threads} threads: median ms per "
          f"block of {args.block} steps")
    for k, m in enumerate(medians):
        print(f"  steps {k * args.block:4d}-{(k + 1) * args.block - 1:4d}: {m:7.1f}")
    print(f"last block / first block: {medians[-1] / medians[0]:.2f}x")


if __name__ == "__main__":
    main()
