"""Single-sample calls from several Python threads at once on one model."""

import threading

import numpy as np


def single_samples_from_threads(predict, x, threads=4, rounds=5):
    """Thread t predicts samples t, t + threads, ... of x one at a time, `rounds`
    times over, all threads at once; returns each thread's outputs in order."""
    got = [None] * threads

    def work(t):
        got[t] = np.concatenate([predict(x[i:i + 1])
                                 for _ in range(rounds) for i in range(t, len(x), threads)])

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return got
