"""vidreid.eval.rerank against a straightforward dense implementation of k-reciprocal re-ranking."""
import importlib

import numpy as np
import pytest
import torch

from vidreid.eval import distance, rerank

rerank_module = importlib.import_module("vidreid.eval.rerank")  # the package attribute is the function


def reference_rerank(q_g, q_q, g_g, k1, k2, lambda_value):
    """Zhong et al., CVPR 2017, dense, one item at a time, with sets; float32 like torchreid; ties by index."""
    num_q = q_g.shape[0]
    full = np.block([[q_q, q_g], [q_g.T, g_g]])
    squared = np.square(full).astype(np.float32)
    od = (squared / squared.max(axis=0)).T  # row i: column i of the squared distances, over its maximum
    num = len(od)
    ranked = np.argsort(od, axis=1, kind="stable")

    def reciprocal(i, k):  # j among the k+1 nearest of i, with i among the k+1 nearest of j
        return {int(j) for j in ranked[i, :k + 1] if i in ranked[j, :k + 1]}

    v = np.zeros((num, num), dtype=np.float32)
    for i in range(num):
        r = reciprocal(i, k1)
        expanded = set(r)
        for j in r:
            half = reciprocal(j, int(round(k1 / 2)))
            if len(half & r) > 2 / 3 * len(half):
                expanded |= half
        cols = sorted(expanded)
        weight = np.exp(-od[i, cols])
        v[i, cols] = weight / weight.sum()
    if k2 != 1:
        v = np.stack([v[ranked[i, :k2]].mean(0) for i in range(num)])
    jaccard = np.stack([1 - (s := np.minimum(v[i], v[num_q:]).sum(1)) / (2 - s) for i in range(num_q)])
    return (jaccard * (1 - lambda_value) + od[:num_q, num_q:] * lambda_value).astype(np.float32)


def features(rng, num_q, num_g, dim=8, duplicates=False):
    qf = rng.standard_normal((num_q, dim)).astype(np.float32)
    gf = rng.standard_normal((num_g, dim)).astype(np.float32)
    if duplicates:  # exact ties everywhere: equal features give equal distances
        gf[1::3] = gf[::3][:len(gf[1::3])]
        qf[1] = gf[0]
    return qf, gf


@pytest.mark.parametrize("k1,k2,lambda_value", [(20, 6, 0.3), (5, 1, 0.5), (7, 3, 0.0), (3, 10, 1.0)])
def test_matches_dense_reference(k1, k2, lambda_value):
    rng = np.random.default_rng(k1 + k2)
    for num_q, num_g in ((9, 40), (25, 31)):
        qf, gf = features(rng, num_q, num_g)
        dists = distance(qf, gf), distance(qf, qf), distance(gf, gf)
        expected = reference_rerank(*dists, k1, k2, lambda_value)
        result = rerank(*dists, k1=k1, k2=k2, lambda_value=lambda_value)
        assert result.dtype == np.float32 and result.shape == (num_q, num_g)
        np.testing.assert_allclose(result, expected, rtol=0, atol=1e-5)


def test_ties_follow_index_order():
    rng = np.random.default_rng(1)
    qf, gf = features(rng, 6, 30, duplicates=True)
    dists = distance(qf, gf), distance(qf, qf), distance(gf, gf)
    np.testing.assert_allclose(rerank(*dists, k1=6, k2=3), reference_rerank(*dists, 6, 3, 0.3), rtol=0, atol=1e-5)


def test_neighbourhood_larger_than_everything():
    rng = np.random.default_rng(2)
    qf, gf = features(rng, 3, 5)
    dists = distance(qf, gf), distance(qf, qf), distance(gf, gf)
    np.testing.assert_allclose(rerank(*dists, k1=20, k2=12), reference_rerank(*dists, 20, 12, 0.3), atol=1e-5)


def test_chunk_size_does_not_change_results(monkeypatch):
    rng = np.random.default_rng(3)
    qf, gf = features(rng, 11, 37)
    dists = distance(qf, gf), distance(qf, qf), distance(gf, gf)
    base = rerank(*dists)
    for chunk_size in (1, 7, 11, 48, 1000):
        np.testing.assert_array_equal(rerank(*dists, chunk_size=chunk_size), base)
    monkeypatch.setattr(rerank_module, "_TRIPLE_BUDGET", 100)  # several Jaccard blocks
    np.testing.assert_array_equal(rerank(*dists, chunk_size=5), base)


def test_input_types_and_dtypes():
    rng = np.random.default_rng(4)
    qf, gf = features(rng, 5, 20)
    dists = distance(qf, gf), distance(qf, qf), distance(gf, gf)
    base = rerank(*dists)
    np.testing.assert_array_equal(rerank(*[torch.from_numpy(d) for d in dists]), base)
    as64 = [d.astype(np.float64) for d in dists]  # squared in float64 like torchreid's concatenation
    np.testing.assert_allclose(rerank(*as64), reference_rerank(*as64, 20, 6, 0.3), atol=1e-5)
    mixed = (dists[0], as64[1], dists[2])
    np.testing.assert_allclose(rerank(*mixed), reference_rerank(*mixed, 20, 6, 0.3), atol=1e-5)


def test_bad_inputs():
    q_g, q_q, g_g = np.ones((2, 3)), np.ones((2, 2)), np.ones((3, 3))
    with pytest.raises(ValueError, match="g_g"):
        rerank(q_g, q_q, np.ones((2, 2)))
    with pytest.raises(ValueError, match="k1"):
        rerank(q_g, q_q, g_g, k1=0)
    with pytest.raises(ValueError, match="lambda"):
        rerank(q_g, q_q, g_g, lambda_value=2)
    with pytest.raises(ValueError, match="finite"):
        rerank(np.zeros((2, 3)), np.zeros((2, 2)), np.zeros((3, 3)))
    assert rerank(np.ones((0, 3)), np.ones((0, 0)), g_g).shape == (0, 3)


def _extra_memory(num_g, num_q=50, chunk_size=None):
    """Peak bytes numpy allocates inside rerank beyond its inputs and its (Q, G) output (tracemalloc sees numpy's
    buffers; torch.topk only returns k values per row)."""
    import tracemalloc
    rng = np.random.default_rng(0)
    pids = rng.integers(0, (num_q + num_g) // 10, num_q + num_g)
    features = rng.standard_normal((pids.max() + 1, 16))[pids] + rng.standard_normal((len(pids), 16))
    qf, gf = features[:num_q].astype(np.float32), features[num_q:].astype(np.float32)
    q_g, q_q, g_g = distance(qf, gf), distance(qf, qf), distance(gf, gf)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        out = rerank(q_g, q_q, g_g, chunk_size=chunk_size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - before - out.nbytes


def test_extra_memory_grows_linearly_with_the_gallery():
    """What makes a 50k gallery fit: beyond q_g, q_q, g_g and the output, rerank holds blocks of chunk_size rows and
    sparse rows of a few dozen entries, so 4x the gallery costs far less than 16x (a dense (N, N) temporary would)."""
    small, large = _extra_memory(1000, chunk_size=64), _extra_memory(4000, chunk_size=64)
    assert large < 2.5 * small, (small, large)
    assert large < 0.5 * 4050 ** 2 * 4                                 # well under one float32 (N, N) matrix
