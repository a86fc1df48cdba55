"""MIPP's repeats on a Dask cluster of worker processes: the same kept sets as in this process."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

import mintlab
from mintlab.prune import scores as scores_mod
from mintlab.prune.activations import collect_activations
from mintlab.prune.mipp import mipp_layer, mipp_masks
from tests.prune.test_mipp import FAST, PAIRS, Planted

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def planted_acts():
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(400, 4, generator=g), torch.arange(400) % 2)
    net = Planted().eval()
    return net, collect_activations(net, data, PAIRS, samples_per_class=200, seed=0, progress=False)


@pytest.fixture(scope="module")
def cluster_client():
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc,
        distributed.Client(lc) as client,
    ):
        yield client


def _same(a: dict, b: dict) -> None:
    for name in a["keep"]:
        np.testing.assert_array_equal(a["keep"][name], b["keep"][name])
        np.testing.assert_array_equal(a["layers"][name]["confidence"], b["layers"][name]["confidence"])
        np.testing.assert_array_equal(a["layers"][name]["order"], b["layers"][name]["order"])


def test_repeats_on_worker_processes_give_the_same_kept_sets(planted_acts, cluster_client):
    net, acts = planted_acts
    kw = dict(activations=acts, x=0.95, repeats=4, seed=1, config=FAST)
    here = mipp_masks(net, None, PAIRS, client=False, **kw)
    assert not any(r["on_dask"] for r in here["layers"].values())
    explicit = mipp_masks(net, None, PAIRS, client=cluster_client, **kw)
    active = mipp_masks(net, None, PAIRS, **kw)  # the active client is picked up (Dask's idiom)
    assert all(r["on_dask"] for r in explicit["layers"].values())
    assert all(r["on_dask"] for r in active["layers"].values())
    _same(here, explicit)
    _same(here, active)
    assert not here["keep"]["fc2"][4], "the planted unit without outgoing weights goes on both paths"


def test_workers_with_another_mintlab_are_refused(planted_acts, cluster_client, monkeypatch):
    _, acts = planted_acts
    monkeypatch.setattr(scores_mod, "_worker_version", lambda: "0.0.0")
    pair = PAIRS[1]
    with pytest.raises(ValueError, match=rf"import mintlab {mintlab.__version__}.*mintlab 0\.0\.0"):
        mipp_layer(acts.parent[pair], acts.child[pair], x=0.9, repeats=2, config=FAST, client=cluster_client)
    with pytest.raises(TypeError, match="distributed.Client"):
        mipp_layer(acts.parent[pair], acts.child[pair], x=0.9, repeats=2, config=FAST, client="here")
