"""The paired Pfaffian in double-double and in double (isingvar.kernels.ddpfaffian, isingvar.kernels.pairedpfaffian,
isingvar.exact.pfaffian.PairedPfaffian): value and sign against pfapack's dense Pfaffian, jets against the dense jet
Parlett-Reid elimination, the Schur complement against numpy's solve and finite differences, and the extra precision
against mpmath at 200 bits where a double elimination loses the digits."""

import mpmath
import numpy as np
import pytest
from pfapack.pfaffian import pfaffian

from isingvar.exact.pfaffian import PairedPfaffian, pfaffian_pivots


def random_paired(rng, M, density):
    """Entries (p < q) of a random sparse skew matrix whose pair blocks K[2t, 2t+1] are all present."""
    p, q = [], []
    for a in range(M):
        for b in range(a + 1, M):
            if (b == a + 1 and a % 2 == 0) or rng.random() < density:
                p.append(a)
                q.append(b)
    return np.array(p), np.array(q)


def dense(M, p, q, x):
    K = np.zeros((M, M))
    np.add.at(K, (p, q), x)
    np.add.at(K, (q, p), -x)
    return K


@pytest.mark.parametrize("M", [2, 4, 8, 16, 30])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("double", [False, True])
def test_value_and_sign_against_pfapack(M, seed, double):
    rng = np.random.default_rng(seed)
    p, q = random_paired(rng, M, 0.3)
    x = rng.normal(size=p.size) + 2.0 * ((p // 2) == (q // 2))  # pair blocks kept away from 0
    pp = PairedPfaffian(M, p, q, rng.permutation(M // 2))
    jet, _, sign, _ = pp.log_pfaffian(x[:, None], double=double)
    ref = pfaffian(dense(M, p, q, x))
    assert sign == np.sign(ref)
    assert jet[0] == pytest.approx(np.log(abs(ref)), abs=1e-12)


def test_repeated_and_reversed_entries_add():
    # an entry given as (q, p) stands for -K[p, q]; an entry given twice adds (pair blocks included)
    rng = np.random.default_rng(3)
    M = 10
    p, q = random_paired(rng, M, 0.5)
    x = rng.normal(size=p.size) + 2.0 * ((p // 2) == (q // 2))
    ref = pfaffian(dense(M, p, q, x))
    k = rng.random(p.size) < 0.5
    rows, cols = np.where(k, q, p), np.where(k, p, q)
    values = np.where(k, -x, x)
    twice = np.flatnonzero((p // 2) == (q // 2))[:2].tolist() + [int(np.flatnonzero((p // 2) != (q // 2))[0])]
    pp = PairedPfaffian(M, np.r_[rows, rows[twice]], np.r_[cols, cols[twice]], rng.permutation(M // 2))
    halves = np.r_[values, 0.5 * values[twice]]
    halves[twice] *= 0.5
    jet, _, sign, _ = pp.log_pfaffian(halves[:, None])
    assert sign * np.exp(jet[0]) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("double", [False, True])
def test_jets_against_dense_parlett_reid(double):
    # K(beta) with entries x exp(-beta W): the jet of ln |Pf K| against pfaffian_pivots' (another elimination)
    rng = np.random.default_rng(4)
    M, beta = 24, 0.7
    p, q = random_paired(rng, M, 0.3)
    x = rng.normal(size=p.size) + 2.0 * ((p // 2) == (q // 2))
    W = rng.normal(size=p.size)
    w = x * np.exp(-beta * W)
    jets = np.column_stack([w, -W * w, 0.5 * W * W * w])
    sign, piv = pfaffian_pivots(np.stack([dense(M, p, q, jets[:, t]) for t in range(3)]))
    q1 = piv[:, 1] / piv[:, 0]
    ref = [np.log(np.abs(piv[:, 0])).sum(), q1.sum(), (piv[:, 2] / piv[:, 0] - 0.5 * q1 * q1).sum()]
    for order in (np.arange(M // 2), rng.permutation(M // 2)):
        jet, scale, s, _ = PairedPfaffian(M, p, q, order).log_pfaffian(jets, double=double)
        assert s == sign * np.prod(np.sign(piv[:, 0]))
        np.testing.assert_allclose(jet, ref, rtol=1e-10)
        assert np.all(scale >= np.abs(jet) - 1e-12)


@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("nt", [1, 2, 3])
def test_schur_complement_against_dense(double, nt):
    # the last 3 pairs kept: C = K_SS - K_SI K_II^-1 K_IS (numpy's solve) and its beta-jets (finite differences),
    # the first pairs' pivots multiplying to Pf K_II
    rng = np.random.default_rng(6)
    M, keep, beta = 20, 3, 0.4
    p, q = random_paired(rng, M, 0.4)
    x = rng.normal(size=p.size) + 3.0 * ((p // 2) == (q // 2))
    W = rng.normal(size=p.size)
    order = rng.permutation(M // 2)
    # pairs in elimination order: the kept (last) ones are order[-keep:], their rows 2t, 2t + 1 in C in that order
    perm = np.concatenate([[2 * t, 2 * t + 1] for t in order])
    inner, seam = perm[: M - 2 * keep], perm[M - 2 * keep:]

    def complement(b):
        K = dense(M, p, q, x * np.exp(-b * W))
        return K[np.ix_(seam, seam)] - K[np.ix_(seam, inner)] @ np.linalg.solve(K[np.ix_(inner, inner)],
                                                                                 K[np.ix_(inner, seam)])

    w = x * np.exp(-beta * W)
    jets = np.column_stack([w, -W * w, 0.5 * W * W * w])[:, :nt]
    piv, C = PairedPfaffian(M, p, q, order).schur(jets, M // 2 - keep, double=double)
    if not double:  # (hi, lo): the value is their sum
        piv, C = piv.sum(axis=-1), C.sum(axis=-1)
    assert piv.shape == (M // 2 - keep, nt) and C.shape == (2 * keep, 2 * keep, nt)
    K = dense(M, p, q, w)
    assert np.prod(piv[:, 0]) == pytest.approx(pfaffian(K[np.ix_(inner, inner)]), rel=1e-12)
    np.testing.assert_allclose(C[:, :, 0], complement(beta), rtol=1e-12, atol=1e-12)
    h = 1e-3
    y = [complement(beta + k * h) for k in (-2, -1, 1, 2)]
    ref = [(y[0] - 8 * y[1] + 8 * y[2] - y[3]) / (12 * h),
           (-y[0] + 16 * y[1] - 30 * complement(beta) + 16 * y[2] - y[3]) / (24 * h * h)]
    for t in range(1, nt):
        np.testing.assert_allclose(C[:, :, t], ref[t - 1], rtol=1e-7, atol=1e-7)


def test_double_double_keeps_the_digits_a_double_elimination_loses():
    # A first pivot of 1e-6 puts entries of 1e6 into the trailing block, which the later pivots cancel (their
    # products to 1e12): a double elimination in that order keeps ~4 digits of Pf, the double-double one ~20 (mpmath, 200 bits).
    rng = np.random.default_rng(5)
    M = 12
    p, q = random_paired(rng, M, 0.8)
    x = rng.normal(size=p.size)
    x[(p == 0) & (q == 1)] = 1e-6
    K = dense(M, p, q, x)
    with mpmath.workprec(200):
        ref = float(mpmath.log(mpmath.det(mpmath.matrix(K.tolist()))) / 2)
    jet, _, _, growth = PairedPfaffian(M, p, q, np.arange(M // 2)).log_pfaffian(x[:, None])
    assert growth >= 1e5
    assert jet[0] == pytest.approx(ref, abs=1e-13)
    # the same order in double precision (dense, pair by pair) is off by far more
    A = K.copy()
    logs = 0.0
    for k in range(0, M, 2):
        d = A[k, k + 1]
        logs += np.log(abs(d))
        F = A[k + 2:, k:k + 2]
        Pinv = np.array([[0.0, -1.0 / d], [1.0 / d, 0.0]])
        A[k + 2:, k + 2:] += F @ Pinv @ F.T
    assert abs(logs - ref) > 1e-8


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="even"):
        PairedPfaffian(3, [0], [1], [0])
    with pytest.raises(ValueError, match="outside"):
        PairedPfaffian(4, [0], [4], [0, 1])
    with pytest.raises(ValueError, match="permutation"):
        PairedPfaffian(4, [0], [1], [0, 0])


def chained_cliques(M, size):
    """Entries (p < q) of a skew matrix whose pairs form cliques of ``size`` consecutive pairs, every pair of a clique
    also joined to the next clique's first two pairs (every dart pair of the two)."""
    p, q = [], []
    for a in range(M):
        for b in range(a + 1, M):
            t, u = a // 2, b // 2
            if t // size == u // size or (u // size == t // size + 1 and u % size < 2):
                p.append(a)
                q.append(b)
    return np.array(p), np.array(q)


def mp_pair_elimination(M, p, q, jets, order, stop):
    """The pair-by-pair elimination of K in ``order`` at 50 digits (dense, mpmath): the first ``stop`` pivots' jets
    d_s = K[2s, 2s + 1] and the Schur complement C + F P^-1 F^T of the rest, whose (i, j) entry is
    C_ij + r (F_i1 F_j0 - F_i0 F_j1), r = 1 / d_s, every product a truncated jet product."""
    nt = jets.shape[1]
    perm = np.concatenate([[2 * t, 2 * t + 1] for t in order])
    with mpmath.workdps(50):
        A = []
        for t in range(nt):
            K = dense(M, p, q, jets[:, t])[np.ix_(perm, perm)]
            A.append(np.array([[mpmath.mpf(v) for v in row] for row in K], dtype=object))
        pivots = []
        for s in range(stop):
            i = 2 * s
            d = [A[t][i, i + 1] for t in range(nt)]
            pivots.append([float(x) for x in d])
            r = [1 / d[0]]
            for t in range(1, nt):
                r.append(-r[0] * sum(d[u] * r[t - u] for u in range(1, t + 1)))
            f0 = [A[t][i + 2:, i] for t in range(nt)]
            f1 = [A[t][i + 2:, i + 1] for t in range(nt)]
            G = [sum(np.multiply.outer(f1[u], f0[t - u]) - np.multiply.outer(f0[u], f1[t - u]) for u in range(t + 1))
                 for t in range(nt)]
            for t in range(nt):
                A[t][i + 2:, i + 2:] += sum(r[u] * G[t - u] for u in range(t + 1))
        C = np.array([[[float(A[t][a, b]) for t in range(nt)] for b in range(2 * stop, M)] for a in range(2 * stop, M)])
    return np.array(pivots).reshape(stop, nt), C


@pytest.mark.parametrize("structure, M, stop_back, nt, big", [
    ("sparse", 40, 0, 3, 1),  # a random order on a sparse pattern: small supernodes, many sources per column
    ("sparse", 40, 4, 1, 1),
    ("dense", 36, 0, 3, 15),  # every pair with every other: one supernode of all the columns
    ("dense", 36, 5, 2, 12),  # the Schur complement's 5 pairs outside it
    ("chained", 40, 3, 3, 4),  # cliques in a chain: supernodes of a few columns updating the next ones
])
@pytest.mark.parametrize("double", [False, True])
def test_supernodal_elimination_against_mpmath(structure, M, stop_back, nt, big, double):
    # the pivots and the Schur complement, jets included, equal to double-double rounding (or, with double, to double
    # rounding: isingvar.kernels.pairedpfaffian, the same supernodal elimination) to the same elimination carried out
    # at 50 digits, on patterns whose supernodes (isingvar.kernels.ddpfaffian.supernodes) range from single columns
    # to the whole matrix
    from isingvar.kernels.ddpfaffian import supernodes

    rng = np.random.default_rng(M + nt + stop_back)
    if structure == "chained":
        p, q = chained_cliques(M, 4)
        order = np.arange(M // 2)
    else:
        p, q = random_paired(rng, M, 0.15 if structure == "sparse" else 1.0)
        order = rng.permutation(M // 2)
    x = rng.normal(size=p.size) + 3.0 * ((p // 2) == (q // 2))
    W = rng.normal(size=p.size)
    jets = np.column_stack([x, -W * x, 0.5 * W * W * x])[:, :nt]
    stop = M // 2 - stop_back
    pp = PairedPfaffian(M, p, q, order)
    first = supernodes(pp.colptr, pp.rows, stop)
    assert np.diff(first).max() >= big
    piv, C = pp.schur(jets, stop, double=double)
    ref_piv, ref_C = mp_pair_elimination(M, p, q, jets, order, stop)
    if double:  # up to 1.3e-13 of the scale observed (dense, nt = 3: pivots spread over a factor ~900), 2e-16 sparse
        got_piv, got_C, tol = piv, C, 1e-12
    else:  # hi + lo: the rounding of the double-double
        got_piv, got_C, tol = piv[..., 0] + piv[..., 1], C[..., 0] + C[..., 1], 1e-27
    for t in range(nt):
        scale = max(np.abs(ref_piv[:, t]).max(), np.abs(ref_C[..., t]).max() if stop_back else 0.0)
        assert np.abs(got_piv[:, t] - ref_piv[:, t]).max() <= tol * scale
        if stop_back:
            assert np.abs(got_C[..., t] - ref_C[..., t]).max() <= tol * scale


def test_long_columns_and_one_large_supernode():
    # a hub pair eliminated first joins every pair to every other: a column of 299 rows (beyond one chunk of the
    # update's accumulator) and one supernode of all the columns; the Pfaffian against pfapack, the Schur
    # complement of the last 6 pairs against numpy's solve, in double-double and in double (the same supernodal
    # elimination, isingvar.kernels.pairedpfaffian), and the jets of the two against each other
    from isingvar.kernels.ddpfaffian import ACC_ROW, LANES, supernodes

    rng = np.random.default_rng(11)
    n = 300
    M = 2 * n
    assert n - 1 > ACC_ROW - LANES
    pairs = np.arange(1, n)
    sp = rng.choice(pairs, size=3 * n)  # a sparse random part among the other pairs
    sq = rng.choice(pairs, size=3 * n)
    keep = sp != sq
    a = np.concatenate([np.arange(n), np.zeros(n - 1, dtype=int), sp[keep]])
    b = np.concatenate([np.arange(n), pairs, sq[keep]])
    da, db = rng.integers(0, 2, size=(2, a.size))
    same = a == b
    da[same], db[same] = 0, 1  # the pair blocks K[2t, 2t + 1]
    p, q = 2 * a + da, 2 * b + db
    x = rng.normal(size=p.size) * np.where(same, 1.0, 0.3) + 3.0 * same
    W = rng.normal(size=p.size)
    jets = np.column_stack([x, -W * x, 0.5 * W * W * x])
    pp = PairedPfaffian(M, p, q, np.arange(n))
    assert np.diff(pp.colptr)[0] == n - 1
    assert np.diff(supernodes(pp.colptr, pp.rows, n)).max() == n
    K = dense(M, p, q, x)
    jet, _, sign, _ = pp.log_pfaffian(jets)
    ref = pfaffian(K)
    assert sign == np.sign(ref)
    assert jet[0] == pytest.approx(np.log(abs(ref)), abs=1e-10)
    jet2, _, sign2, _ = pp.log_pfaffian(jets, double=True)
    assert sign2 == sign
    assert jet2[0] == pytest.approx(np.log(abs(ref)), abs=1e-10)  # the double kernel on its own against pfapack
    np.testing.assert_allclose(jet, jet2, rtol=1e-9)
    stop = n - 6
    piv, C = pp.schur(jets, stop)
    inner, seam = np.arange(2 * stop), np.arange(2 * stop, M)
    ref_C = K[np.ix_(seam, seam)] - K[np.ix_(seam, inner)] @ np.linalg.solve(K[np.ix_(inner, inner)], K[np.ix_(inner, seam)])
    np.testing.assert_allclose(C[:, :, 0, 0] + C[:, :, 0, 1], ref_C, rtol=1e-9, atol=1e-9 * np.abs(ref_C).max())
    piv2, C2 = pp.schur(jets, stop, double=True)
    np.testing.assert_allclose(C2[:, :, 0], ref_C, rtol=1e-9, atol=1e-9 * np.abs(ref_C).max())
    np.testing.assert_allclose(piv.sum(axis=-1), piv2, rtol=1e-8)
    for t in range(3):
        np.testing.assert_allclose(C[:, :, t].sum(axis=-1), C2[:, :, t], rtol=1e-8, atol=1e-8 * np.abs(C2[:, :, t]).max())


def test_zero_pivot_gives_nan():
    # an exactly zero pivot stops the elimination: it and every later pivot NaN, never a wrong number
    rng = np.random.default_rng(8)
    M = 12
    p, q = random_paired(rng, M, 0.5)
    x = rng.normal(size=p.size) + 2.0 * ((p // 2) == (q // 2))
    x[(p == 4) & (q == 5)] = 0.0  # pair 2's block, eliminated first and not yet updated
    order = np.r_[2, np.delete(np.arange(M // 2), 2)]
    piv = PairedPfaffian(M, p, q, order).pivots(x[:, None])
    assert np.isnan(piv).all()
