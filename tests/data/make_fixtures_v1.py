"""Regenerate the format-1 result files kept as fixtures (run from the repository root).

These files pin today's on-disk format: tests/test_fixtures.py loads them, so a format
change has to be deliberate (bump ``format_version``, keep a loader for version 1).
They were written by nnqft 0.1 at commit 050f97e; do not regenerate them for a new format:
add new files next to them instead.
"""

import json

import numpy as np

import nnqft

x = np.array([-1.0, 0.0, 1.0])
arch = nnqft.Architecture("erf", width=4, sigma_b=[0.5, 1.0])
corr = nnqft.sample(arch, x, 2_048, orders=(2, 4), estimator="conditional", seed=7, threads=1,
                    block_size=64)
corr.save("tests/data/correlators_v1.npz")
flow = nnqft.sigma_flow(nnqft.Architecture("gauss", width=4), x, [0.8, 1.0], n_networks=2048,
                        seed=3, threads=1)
flow.save("tests/data/flow_v1.npz")
ref = {"correlators": {n: corr.mean(n).tolist() for n in (2, 4)},
       "correlators_k4": corr.connected(4)[0].tolist(),
       "flow_u4": flow.couplings["u4"].tolist(), "flow_exact_u4": flow.exact_couplings["u4"].tolist()}
with open("tests/data/fixtures_v1_values.json", "w") as fh:
    json.dump(ref, fh, indent=1)
