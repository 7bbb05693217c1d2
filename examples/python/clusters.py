"""The little that differs between Dask and Ray for the examples beside it
(distributed_inference.py, distributed_sweep.py): start or join a cluster,
send an object to every worker once, run a function over a list of inputs.

Each worker process runs pyconv on `threads` threads (1 by default: one task
per core, so the tasks of several workers do not fight over the same cores).
Both clusters also set OMP_NUM_THREADS for the processes they start, which
pyconv reads as its default; the initializer below makes it explicit.

On a real cluster, pass the address of a running one instead of starting a
local one: `--address tcp://scheduler:8786` (Dask: `dask scheduler` on one
machine, `dask worker tcp://scheduler:8786 --nthreads 1` on each) or
`--address auto` / `ray://head:10001` (Ray: `ray start --head`, then
`ray start --address head:6379` on each machine). pyconv must be installed
on every machine; models and images travel as pickles.
"""

import pyconv


def worker_threads(n):
    """The worker initializer: pyconv's thread count in this worker process."""
    pyconv.set_num_threads(n)
    return pyconv.get_num_threads()


class Cluster:
    """A local cluster of `workers` processes, or the one at `address`."""

    def __init__(self, workers=2, threads=1, address=None):
        self.workers, self.threads, self.address = workers, threads, address


class DaskCluster(Cluster):
    def __enter__(self):
        from dask.distributed import Client, LocalCluster
        self.cluster = None
        if self.address is None:
            self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                        processes=True, dashboard_address=None)
        self.client = Client(self.address or self.cluster)
        self.client.run(worker_threads, self.threads)
        return self

    def put(self, obj):
        return self.client.scatter(obj, broadcast=True)

    def map(self, fn, shared, inputs):
        # Inputs are scattered first (not put in the task graph), so big
        # arrays travel once, straight to a worker.
        items = self.client.scatter(list(inputs))
        futures = [self.client.submit(fn, shared, item, pure=False) for item in items]
        return self.client.gather(futures)

    def __exit__(self, *exc):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


class RayCluster(Cluster):
    def __enter__(self):
        import ray
        self.ray = ray
        if self.address is None:
            ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=self.address)
        self.threads_ref = ray.put(self.threads)
        return self

    def put(self, obj):
        return self.ray.put(obj)

    def map(self, fn, shared, inputs):
        @self.ray.remote(num_cpus=1)
        def task(threads, shared_obj, item):
            worker_threads(threads)
            return fn(shared_obj, item)

        return self.ray.get([task.remote(self.threads_ref, shared, item) for item in inputs])

    def __exit__(self, *exc):
        self.ray.shutdown()


BACKENDS = {"dask": DaskCluster, "ray": RayCluster}
