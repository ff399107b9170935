"""
Merging runs
============

Network i draws every one of its parameters from its own Philox counters, keyed by the
seed: which networks a run covers is just a range of indices. Runs of one configuration
over disjoint ranges therefore merge losslessly (``a + b``, or ``nnqft merge`` on the
command line), and the result is bit-identical to a single run over the union, on any
number of threads, processes or machines. This example splits a run into pieces, merges
them back, and then spreads the same run over a Dask cluster with
:func:`nnqft.distributed.sample_dask`.
"""

# %%
import itertools
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import nnqft

arch = nnqft.Architecture("erf", width=100)
x = np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])
piece = 8_192  # networks per piece; ranges start at multiples of the block size (32)
kwargs = dict(orders=(2, 4), estimator="conditional", seed=0)

# Four pieces, as four separate jobs would produce them, each saved to its own file.
folder = Path(tempfile.mkdtemp())
for i in range(4):
    run = nnqft.sample(arch, x, piece, start=i * piece, **kwargs)
    run.save(folder / f"piece{i}.npz")

pieces = [nnqft.load(folder / f"piece{i}.npz") for i in range(4)]
merged = sum(pieces[1:], start=pieces[0])
one_run = nnqft.sample(arch, x, 4 * piece, **kwargs)
print(f"merged: {merged.n_networks} networks; bit-identical to one run:",
      np.array_equal(merged.connected(4)[0], one_run.connected(4)[0])
      and np.array_equal(merged.connected(4)[1], one_run.connected(4)[1]))

# %%
# Each piece added shrinks the error bars like 1/√n: the median relative error of the
# connected four-point function against the number of networks merged so far, with a
# 1/√n line fitted to all the points. The error bars are themselves estimates (64
# jackknife bins: each to about 18%, and the tuples' errors move together), so the
# free log-log slope over this factor of 4 scatters around −1/2.
n, rel = [], []
for total in itertools.accumulate(pieces):  # piece 0, 0 + 1, 0 + 1 + 2, ...
    kappa4, err = total.connected(4)
    n.append(total.n_networks)
    rel.append(np.median(err / np.abs(kappa4)))
n, rel = np.array(n), np.array(rel)
# the 1/√n line through all points (least squares in log space with the slope fixed at
# -1/2), and the free log-log slope for comparison
c = np.exp(np.mean(np.log(rel) + 0.5 * np.log(n)))
slope = np.polyfit(np.log(n), np.log(rel), 1)[0]
print(f"log-log slope of the relative error: {slope:.3f} (1/√n: -0.5)")
fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
ax.plot(n, rel, "o", label="merged runs")
ax.plot(n, c / np.sqrt(n), "-", label=f"c/√n, c fitted (free slope {slope:.2f})")
ax.set(xscale="log", yscale="log", xlabel="networks", ylabel="median rel. error of κ4")
ax.legend()
plt.show()

# %%
# The same run on a Dask cluster
# ------------------------------
# :func:`nnqft.distributed.sample_dask` splits the network range into chunks, samples
# them on the workers and merges the results: again bit-identical. Here a two-worker
# :class:`~distributed.LocalCluster` inside this process; for a real cluster (see Dask's
# :doc:`dask:deploying`, e.g. on an HPC batch system), pass its
# :class:`~distributed.Client`.
from dask.distributed import Client, LocalCluster

from nnqft.distributed import sample_dask

with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                  dashboard_address=":0") as cluster, Client(cluster) as client:
    on_dask = sample_dask(client, arch, x, 4 * piece, chunk_size=piece, **kwargs)
print("Dask run bit-identical to one run:",
      np.array_equal(on_dask.connected(4)[0], one_run.connected(4)[0]))
