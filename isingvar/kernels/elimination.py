"""Variable-elimination kernels: one pass over a bucket tree per beta, scaled or in the log domain.

The structure (built once per coupling pattern by :mod:`isingvar.exact.elimination`) is a list of steps
t = 0..T-1.  Step t eliminates one spin v; its clique C_t has K = k[t] + 1 bits: bit 0 is v
(0 -> s_v = +1, 1 -> s_v = -1, as everywhere in isingvar) and bits 1..k[t] are the separator S_t.
Its message, a table over the 2^k[t] configurations y of S_t (x = 2y + bit of v), goes to one later
step (its parent), whose clique contains S_t; a step with k = 0 is the root of a connected component.

Index maps: the entry of child message c seen from configuration x of its parent's clique is
``maps[lo_off[q] + (x & (2^a - 1))] + maps[hi_off[q] + (x >> a)]`` (q the child's slot, a = a[t]):
two lookups instead of a loop over bits.  The local field of v, h_v + sum_u J_vu s_u over the
original bonds to spins of S_t, is ``phi[phi_lo[t] + (x & mask)] + phi[phi_hi[t] + (x >> a)]``.

Tables of :func:`forward` hold ln of the summed Boltzmann weights (no underflow at any beta), measured
from the least energy given y; those of :func:`forward_scaled` the weights themselves, each message
divided by its largest entry (no exp or log per row; it reports when it cannot hold a beta).  Both
carry the conditional mean and variance of E and of M = sum_i s_i, combined as cumulants:
a product of independent parts adds means and variances, a sum over s_v mixes them with
Chan et al.'s pairwise update (var = w0 v0 + w1 v1 + w0 w1 (mu0 - mu1)^2): every term is >= 0, so
the heat capacity and susceptibility carry no cancellation (raw moments <E^2> - <E>^2 would).
"""

import numpy as np
from numba import prange

from ._jit import bits_float, float_bits, njit, pjit


@njit
def fill_phi(k, a, var, edge_ptr, edge_bit, edge_id, J, h, phi_lo, phi_hi, phi):
    """Local fields of each step's spin, split into low/high tables (module docstring).

    Parameters
    ----------
    k : ndarray of int64, shape (T,)
        Separator size of each step; the clique of step t has k[t] + 1 bits.
    a : ndarray of int64, shape (T,)
        Low bits of each step's clique index (the lo/hi split of the index maps and local fields).
    var : ndarray of int64, shape (T,)
        Spin eliminated at each step.
    edge_ptr : ndarray of int64, shape (T+1,)
        CSR pointers into ``edge_bit``/``edge_id``: the original bonds of step t's spin to its separator.
    edge_bit, edge_id : ndarray of int64
        The bit in C_t and the bond index of each such bond.
    J : ndarray of float64, shape (E,)
        Couplings of the bonds.
    h : ndarray of float64, shape (N,)
        Fields of the spins.
    phi_lo, phi_hi : ndarray of int64, shape (T,)
        Offsets of each step's low and high tables in ``phi``.
    phi : ndarray of float64
        Output: h_v + sum_u J_vu s_u, split as ``phi[phi_lo[t] + (x & mask)] + phi[phi_hi[t] + (x >> a)]``.
    """
    for t in range(k.size):
        at = a[t]
        for xl in range(1 << at):
            val = h[var[t]]
            for e in range(edge_ptr[t], edge_ptr[t + 1]):
                bp = edge_bit[e]
                if bp < at:
                    val += J[edge_id[e]] * (1.0 - 2.0 * ((xl >> bp) & 1))
            phi[phi_lo[t] + xl] = val
        for xh in range(1 << (k[t] + 1 - at)):
            val = 0.0
            for e in range(edge_ptr[t], edge_ptr[t + 1]):
                bp = edge_bit[e]
                if bp >= at:
                    val += J[edge_id[e]] * (1.0 - 2.0 * ((xh >> (bp - at)) & 1))
            phi[phi_hi[t] + xh] = val


@njit
def _forward_rows(t, y0, y1, beta, k, a, child_ptr, child_ids, lo_off, hi_off, maps, phi_lo, phi_hi, phi, mo_off, acc,
                  emin, lq, dE, vE, mM, vM, lp_off, lp, keep_lp):
    """Rows y0 <= y < y1 of step t's message (the body of :func:`forward`)."""
    at = a[t]
    maskl = (1 << at) - 1
    c0 = child_ptr[t]
    c1 = child_ptr[t + 1]
    mo = mo_off[t]
    for y in range(y0, y1):
        x0 = 2 * y
        xl0 = x0 & maskl
        xl1 = xl0 | 1
        xh = x0 >> at
        ph = phi[phi_lo[t] + xl0] + phi[phi_hi[t] + xh]
        e0 = -ph
        e1 = ph
        q0 = 0.0
        q1 = 0.0
        d0 = 0.0
        d1 = 0.0
        ve0 = 0.0
        ve1 = 0.0
        m0 = 1.0
        m1 = -1.0
        vm0 = 0.0
        vm1 = 0.0
        for q in range(c0, c1):
            cm = mo_off[child_ids[q]]
            base = maps[hi_off[q] + xh]
            i0 = cm + maps[lo_off[q] + xl0] + base
            i1 = cm + maps[lo_off[q] + xl1] + base
            e0 += emin[i0]
            e1 += emin[i1]
            q0 += lq[i0]
            q1 += lq[i1]
            d0 += dE[i0]
            d1 += dE[i1]
            ve0 += vE[i0]
            ve1 += vE[i1]
            m0 += mM[i0]
            m1 += mM[i1]
            vm0 += vM[i0]
            vm1 += vM[i1]
        low = min(e0, e1)
        g0 = q0 - beta * (e0 - low)
        g1 = q1 - beta * (e1 - low)
        if g0 >= g1:
            r = np.exp(g1 - g0)
            w0 = 1.0 / (1.0 + r)
            w1 = r * w0
            big = g0
        else:
            r = np.exp(g0 - g1)
            w1 = 1.0 / (1.0 + r)
            w0 = r * w1
            big = g1
        res = big + np.log1p(r)
        if keep_lp:
            lp[lp_off[t] + y] = _small_weight(w0, w1)
        u0 = d0 + (e0 - low)
        u1 = d1 + (e1 - low)
        du = u0 - u1
        dm = m0 - m1
        if acc[t]:
            emin[mo + y] += low
            lq[mo + y] += res
            dE[mo + y] += w0 * u0 + w1 * u1
            vE[mo + y] += w0 * ve0 + w1 * ve1 + w0 * w1 * du * du
            mM[mo + y] += w0 * m0 + w1 * m1
            vM[mo + y] += w0 * vm0 + w1 * vm1 + w0 * w1 * dm * dm
        else:
            emin[mo + y] = low
            lq[mo + y] = res
            dE[mo + y] = w0 * u0 + w1 * u1
            vE[mo + y] = w0 * ve0 + w1 * ve1 + w0 * w1 * du * du
            mM[mo + y] = w0 * m0 + w1 * m1
            vM[mo + y] = w0 * vm0 + w1 * vm1 + w0 * w1 * dm * dm


@pjit
def _forward_rows_parallel(t, chunks, beta, k, a, child_ptr, child_ids, lo_off, hi_off, maps, phi_lo, phi_hi, phi, mo_off, acc,
                           emin, lq, dE, vE, mM, vM, lp_off, lp, keep_lp):
    """:func:`_forward_rows` over all rows of step t, in ``chunks`` parts dealt to the threads (rows
    are independent: each reads the children's slots and writes its own entry)."""
    n = 1 << k[t]
    for c in prange(chunks):
        _forward_rows(t, c * n // chunks, (c + 1) * n // chunks, beta, k, a, child_ptr, child_ids, lo_off, hi_off, maps, phi_lo, phi_hi, phi, mo_off, acc,
                      emin, lq, dE, vE, mM, vM, lp_off, lp, keep_lp)


@njit
def forward(beta, k, a, child_ptr, child_ids, lo_off, hi_off, maps, phi_lo, phi_hi, phi, mo_off, acc,
            emin, lq, dE, vE, mM, vM, lp_off, lp, keep_lp, parallel_rows):
    """Sum out every step at inverse temperature ``beta``.

    Per message entry y (float64 arenas at ``mo_off[t]``; a slot is reused once the parent has
    consumed it): ``emin`` the least energy of the summed-out spins given y, ``lq`` = ln sum
    exp(-beta (E - emin)) >= 0, ``dE`` = <E> - emin >= 0, ``vE`` = Var E, ``mM``/``vM`` mean and
    variance of their magnetisation.  Measured from the minimum, ln Z + beta E0 and the entropy
    ln Z + beta U are sums of non-negative terms: no cancellation at large beta.
    A step with ``acc[t]`` adds its message into the slot (a sibling's, of the same separator) instead
    of writing it: a product of independent parts adds every one of these six quantities.

    Parameters
    ----------
    beta : float
        Inverse temperature.
    k : ndarray of int64, shape (T,)
        Separator size of each step; the clique of step t has k[t] + 1 bits.
    a : ndarray of int64, shape (T,)
        Low bits of each step's clique index (the lo/hi split of the index maps and local fields).
    child_ptr : ndarray of int64, shape (T+1,)
        CSR pointers into ``child_ids``.
    child_ids : ndarray of int64
        Steps whose message step t consumes, one per separator, at ``child_ptr[t]:child_ptr[t + 1]``.
    lo_off, hi_off : ndarray of int64, one entry per child slot
        Offsets into ``maps`` of each child slot's low and high index map (module docstring).
    maps : ndarray of int64
        The index maps.
    phi_lo, phi_hi : ndarray of int64, shape (T,)
        Offsets of each step's low and high local-field tables in ``phi``.
    phi : ndarray of float64
        The local-field tables (:func:`fill_phi`).
    mo_off : ndarray of int64, shape (T,)
        Offset of each step's message in the arenas.
    acc : ndarray of bool, shape (T,)
        Whether step t adds its message into its slot instead of writing it.
    emin, lq, dE, vE, mM, vM : ndarray of float64
        The message arenas, as above; written here.
    lp_off : ndarray of int64, shape (T,)
        Offset of each step's rows in ``lp``.
    lp : ndarray of float64
        Output with ``keep_lp``: each row's weights of s_v (:func:`_small_weight`), for :func:`backward`.
    keep_lp : bool
        Whether to fill ``lp``.
    parallel_rows : int
        Steps with at least this many rows run on the threads (numba's thread count).

    Returns
    -------
    ndarray of float64, shape (6,)
        E0, ln Z + beta E0, <E> - E0, Var E, <M>, Var M.
    """
    out = np.zeros(6)
    for t in range(k.size):
        n = 1 << k[t]
        if n >= parallel_rows:
            _forward_rows_parallel(t, 64, beta, k, a, child_ptr, child_ids, lo_off, hi_off, maps, phi_lo, phi_hi, phi, mo_off, acc,
                                   emin, lq, dE, vE, mM, vM, lp_off, lp, keep_lp)
        else:
            _forward_rows(t, 0, n, beta, k, a, child_ptr, child_ids, lo_off, hi_off, maps, phi_lo, phi_hi, phi, mo_off, acc,
                          emin, lq, dE, vE, mM, vM, lp_off, lp, keep_lp)
        mo = mo_off[t]
        if k[t] == 0:  # a root: the component's values add up
            out[0] += emin[mo]
            out[1] += lq[mo]
            out[2] += dE[mo]
            out[3] += vE[mo]
            out[4] += mM[mo]
            out[5] += vM[mo]
    return out


#: A scaled-domain message entry below this (every entry is <= 2) may have lost accuracy to underflow
#: in the products that made it (absolute errors up to ~1e-308): the pass gives up (:func:`forward_scaled`).
SCALED_TINY = 1e-290
#: Most parts a large step's runs are dealt in to the threads; each part has a fused child's block of its
#: own at the end of the tables (which :mod:`isingvar.exact.elimination` sizes for them).
MAX_CHUNKS = 64


@njit
def boltzmann(beta, k, a, phi_lo, phi_hi, phi, bz, shift):
    """Per-beta Boltzmann factors of the local fields, for :func:`forward_scaled`.

    At each table entry i of ``phi`` (the lo/hi split of :func:`fill_phi`),
    bz[i] = exp(beta phi[i] - c) (s_v = +1) and bz[n_phi + i] = exp(-beta phi[i] - c) (s_v = -1), c = beta
    max |phi| over that lo or hi table, so every factor is <= 1.

    Parameters
    ----------
    beta : float
        Inverse temperature.
    k : ndarray of int64, shape (T,)
        Separator size of each step; the clique of step t has k[t] + 1 bits.
    a : ndarray of int64, shape (T,)
        Low bits of each step's clique index (the lo/hi split of the index maps and local fields).
    phi_lo, phi_hi : ndarray of int64, shape (T,)
        Offsets of each step's low and high local-field tables in ``phi``.
    phi : ndarray of float64
        The local-field tables (:func:`fill_phi`).
    bz : ndarray of float64, shape (2 n_phi,)
        Output: the factors, as above.
    shift : ndarray of float64, shape (T,)
        Output: the two c of step t added (ln of what its factors were divided by).
    """
    n_phi = phi.size
    for t in range(k.size):
        shift[t] = 0.0
        for off, size in ((phi_lo[t], 1 << a[t]), (phi_hi[t], 1 << (k[t] + 1 - a[t]))):
            c = 0.0
            for i in range(off, off + size):
                c = max(c, abs(phi[i]))
            c *= beta
            for i in range(off, off + size):
                bz[i] = np.exp(beta * phi[i] - c)
                bz[n_phi + i] = np.exp(-beta * phi[i] - c)
            shift[t] += c


@njit(inline="always")
def _run(rr, p, pmask):
    """The run taken rr-th: rr's bit 0 moved to bit p (``ub[t]``), so the two runs that read the same
    entries of a child lacking that clique bit come one after the other and the second finds them in
    cache (half the child's reads from memory; the backward pass's scatter into them likewise)."""
    return ((rr >> 1) & pmask) | ((rr & 1) << p) | (((rr >> 1) >> p) << (p + 1))


@njit(error_model="numpy")  # a row's weights summing to 0 give NaN, which the pass detects
def _scaled_runs(t, r0, r1, rb, ub, k, a, child_ptr, child_ids, lo_off, hi_off, maps, phi_lo, phi_hi, phi, bz, mo_off,
                 own, cinv, z, mE, vE, mM, vM, w_off, wk, keep_w, fused, blk):
    """Runs r0 <= r < r1 of step t's message in the scaled domain (the body of :func:`forward_scaled`).

    A run is 2^rb[t] consecutive rows in which every child's entries are consecutive (its bits 0..rb[t]
    are the clique's) and the high local-field index is fixed: each quantity is a loop over the run
    through L1-sized buffers, one pass per child, without index maps (rb = 0 where no such run exists).
    ``ub[t]``: the bit of the run index that goes innermost (:func:`_run`).

    Where ``fused[t]`` is a step c (its only child), the block of c's message a run reads (runs reading
    one block come one after the other) is computed first, c's runs written to a block past every slot
    instead of to a slot of their own, and the run reads it there.  Returns the (least, largest) entry written, and those of c's rows
    (0.0, 0.0 without one).  ``blk``: where in the tables the block goes (one per thread, in the last
    :data:`MAX_CHUNKS` x 2^(rb.max() + 1) entries of the tables).  The block is in the tables, not in
    arrays of its own, so that no array variable changes from run to run (numba counts references on
    each: on small steps that cost 2x the rows).

    The buffers hold a run's clique entries as the children do, s_v = +1 and -1 side by side, and every
    loop reads and writes few arrays with unit or pairwise stride: so LLVM vectorises each of them (its
    run-time overlap checks stop at about 8 pairs of arrays; one loop over all ten ran scalar, 3x slower).
    Entries are >= 0 or NaN, whose bits order as int64s as the values do: their min/max is taken on
    the bits, which vectorises (a float64 min/max does not).  All in one function: a call per run
    (40 arguments, each array's reference count) cost more than the run on small steps.
    """
    n_phi = phi.size
    p = ub[t]
    pmask = (1 << p) - 1
    acc_t = own[t] != t
    oinv_t = cinv[own[t]]
    c = fused[t]
    nb = 2 << rb[t]  # entries of the child a run of t reads
    # allocated here, not passed in: LLVM then knows they overlap nothing, and checks less before each
    # vector loop (a small step's runs have a few rows)
    ns = max(nb, 2 << rb[max(c, 0)])
    f_s = np.empty(ns)  # Boltzmann weight; then the weights of s_v given the row
    u_s = np.empty(ns)  # <E> of the summed-out part given the clique entry
    ve_s = np.empty(ns)  # Var E
    mg_s = np.empty(ns)  # <M>
    vm_s = np.empty(ns)  # Var M
    lo = float_bits(np.inf)
    hi = 0
    lo_c = float_bits(np.inf)
    hi_c = 0
    last = -1
    for rr in range(r0, r1):
        r = _run(rr, p, pmask)
        ic = 0
        jobs = 1
        if c >= 0:
            x0 = 2 * r << rb[t]
            q = child_ptr[t]
            ic = maps[lo_off[q] + (x0 & ((1 << a[t]) - 1))] + maps[hi_off[q] + (x0 >> a[t])]
            if ic != last:
                last = ic
                jobs += nb >> rb[c]  # c's runs in the block first
        for job in range(jobs):
            # entries are read at their step's offset less src and written at theirs less dst: a fused
            # child's rows go to the block at blk, where its parent reads them
            if job < jobs - 1:  # a run of the fused child c: its children from their slots, into the block
                st = c
                ys = ((ic >> rb[c]) + job) << rb[c]
                src = 0
                dst = mo_off[c] + ic - blk
                acc = False
                oinv = 1.0
            else:  # run r of t, reading c's block where c is fused
                st = t
                ys = r << rb[t]
                src = mo_off[c] + ic - blk if c >= 0 else 0
                dst = 0
                acc = acc_t
                oinv = oinv_t
            nr = 1 << rb[st]
            n2 = 2 * nr
            at = a[st]
            x0 = 2 * ys
            xl0 = x0 & ((1 << at) - 1)
            xh = x0 >> at
            il = phi_lo[st] + xl0
            ih = phi_hi[st] + xh
            pl = phi[il:il + n2]  # the spin's local field does not depend on s_v: entries 2j and 2j + 1 are equal
            bl0 = bz[il:il + n2]
            bl1 = bz[n_phi + il:n_phi + il + n2]
            ph_h = phi[ih]
            b0h = bz[ih]
            b1h = bz[n_phi + ih]
            mo = mo_off[st] - dst + ys
            zo = z[mo:mo + nr]
            if child_ptr[st + 1] - child_ptr[st] == 1 and not acc:
                # one child, a slot of its own (every step of a lattice's wide chain): one loop per row,
                # the same operations as below in the same order, without the buffers (2x faster in L1)
                q = child_ptr[st]
                ch = child_ids[q]
                s = cinv[ch]
                i0 = mo_off[ch] - src + maps[lo_off[q] + xl0] + maps[hi_off[q] + xh]
                zc = z[i0:i0 + n2]
                ec = mE[i0:i0 + n2]
                vc = vE[i0:i0 + n2]
                mc = mM[i0:i0 + n2]
                wc = vM[i0:i0 + n2]
                eo = mE[mo:mo + nr]
                vo = vE[mo:mo + nr]
                mmo = mM[mo:mo + nr]
                vmo = vM[mo:mo + nr]
                wr = wk[w_off[st] + ys:w_off[st] + ys + nr] if keep_w else wk[:0]
                for j in range(nr):
                    f0 = bl0[2 * j] * b0h * (zc[2 * j] * s)
                    f1 = bl1[2 * j] * b1h * (zc[2 * j + 1] * s)
                    ph = pl[2 * j] + ph_h
                    u0 = -ph + ec[2 * j]
                    u1 = ph + ec[2 * j + 1]
                    m0 = 1.0 + mc[2 * j]
                    m1 = -1.0 + mc[2 * j + 1]
                    tot = f0 + f1
                    inv = 1.0 / tot
                    w0 = f0 * inv
                    w1 = f1 * inv
                    du = u0 - u1
                    dm = m0 - m1
                    zo[j] = tot
                    eo[j] = w0 * u0 + w1 * u1
                    vo[j] = w0 * (0.0 + vc[2 * j]) + w1 * (0.0 + vc[2 * j + 1]) + w0 * w1 * du * du
                    mmo[j] = w0 * m0 + w1 * m1
                    vmo[j] = w0 * (0.0 + wc[2 * j]) + w1 * (0.0 + wc[2 * j + 1]) + w0 * w1 * dm * dm
                    if keep_w:
                        wr[j] = _small_weight(w0, w1)
            else:
                # the scratch itself, not slices of it: a slice is an array whose references numba
                # counts (~20 ns each), and a small step's run has a few rows
                for j in range(nr):
                    f_s[2 * j] = bl0[2 * j] * b0h
                    f_s[2 * j + 1] = bl1[2 * j] * b1h
                for j in range(nr):
                    ph = pl[2 * j] + ph_h
                    u_s[2 * j] = -ph
                    u_s[2 * j + 1] = ph
                for j in range(nr):
                    mg_s[2 * j] = 1.0
                    mg_s[2 * j + 1] = -1.0
                for i in range(n2):
                    ve_s[i] = 0.0
                    vm_s[i] = 0.0
                for q in range(child_ptr[st], child_ptr[st + 1]):
                    ch = child_ids[q]
                    s = cinv[ch]
                    i0 = mo_off[ch] - src + maps[lo_off[q] + xl0] + maps[hi_off[q] + xh]
                    zc = z[i0:i0 + n2]
                    for i in range(n2):
                        f_s[i] *= zc[i] * s
                    _add(u_s, mE[i0:i0 + n2])
                    _add(ve_s, vE[i0:i0 + n2])
                    _add(mg_s, mM[i0:i0 + n2])
                    _add(vm_s, vM[i0:i0 + n2])
                if acc:
                    for j in range(nr):
                        tot = f_s[2 * j] + f_s[2 * j + 1]
                        inv = 1.0 / tot
                        f_s[2 * j] *= inv
                        f_s[2 * j + 1] *= inv
                        zo[j] = tot * (zo[j] * oinv)
                else:
                    for j in range(nr):
                        tot = f_s[2 * j] + f_s[2 * j + 1]
                        inv = 1.0 / tot
                        f_s[2 * j] *= inv
                        f_s[2 * j + 1] *= inv
                        zo[j] = tot
                _mix(f_s, u_s, ve_s, mE[mo:mo + nr], vE[mo:mo + nr], acc)
                _mix(f_s, mg_s, vm_s, mM[mo:mo + nr], vM[mo:mo + nr], acc)
                if keep_w:
                    wr = wk[w_off[st] + ys:w_off[st] + ys + nr]
                    for j in range(nr):
                        wr[j] = _small_weight(f_s[2 * j], f_s[2 * j + 1])
            lo_r = float_bits(np.inf)
            hi_r = 0
            for j in range(nr):
                b = float_bits(zo[j])
                lo_r = min(lo_r, b)
                hi_r = max(hi_r, b)
            if st == t:
                lo = min(lo, lo_r)
                hi = max(hi, hi_r)
            else:
                lo_c = min(lo_c, lo_r)
                hi_c = max(hi_c, hi_r)
    if c < 0:
        return bits_float(lo), bits_float(hi), 0.0, 0.0
    return bits_float(lo), bits_float(hi), bits_float(lo_c), bits_float(hi_c)


@njit(inline="always")
def _add(x, y):
    for i in range(y.size):
        x[i] += y[i]


@njit(inline="always")
def _mix(w, mu, var, mo, vo, acc):
    """A row's mean and variance over s_v (Chan et al.'s pairwise update) from the weights ``w`` and the
    clique entries' ``mu``/``var`` (pairs side by side), into ``mo``/``vo`` (added to them where ``acc``)."""
    for j in range(mo.size):
        w0 = w[2 * j]
        w1 = w[2 * j + 1]
        d = mu[2 * j] - mu[2 * j + 1]
        me = w0 * mu[2 * j] + w1 * mu[2 * j + 1]
        va = w0 * var[2 * j] + w1 * var[2 * j + 1] + w0 * w1 * d * d
        if acc:
            me += mo[j]
            va += vo[j]
        mo[j] = me
        vo[j] = va


@pjit(error_model="numpy")
def _scaled_runs_parallel(t, chunks, rb, ub, k, a, child_ptr, child_ids, lo_off, hi_off, maps, phi_lo, phi_hi, phi,
                          bz, mo_off, own, cinv, z, mE, vE, mM, vM, w_off, wk, keep_w, fused):
    """:func:`_scaled_runs` over all runs of step t in ``chunks`` parts dealt to the threads (rows are
    independent: each reads the children's slots and writes its own entry; an even number of runs per
    part, so that the two runs reading one block of a fused child stay in one part)."""
    n = 1 << (k[t] - rb[t])
    out = np.empty((chunks, 4))
    for c in prange(chunks):
        r0 = (c * n // chunks) & ~1
        r1 = ((c + 1) * n // chunks) & ~1 if c < chunks - 1 else n
        out[c, 0], out[c, 1], out[c, 2], out[c, 3] = _scaled_runs(
            t, r0, r1, rb, ub, k, a, child_ptr, child_ids, lo_off, hi_off, maps, phi_lo, phi_hi, phi, bz, mo_off, own,
            cinv, z, mE, vE, mM, vM, w_off, wk, keep_w, fused, z.size - (c + 1) * (2 << rb.max()))
    return out[:, 0].min(), out[:, 1].max(), out[:, 2].min(), out[:, 3].max()


@njit(error_model="numpy")  # a row's weights summing to 0 give NaN, which the pass detects
def forward_scaled(beta, rb, ub, k, a, child_ptr, child_ids, lo_off, hi_off, maps, phi_lo, phi_hi, phi, mo_off, own,
                   bz, shift, lsc, cinv, z, mE, vE, mM, vM, w_off, wk, keep_w, parallel_rows, fused):
    """:func:`forward` with the summed weights themselves in the tables instead of their logarithms.

    Each message is held as z(y) exp(lsc[o]) (o = ``own[t]``, the step whose slot it is), and read
    divided by its largest entry (``cinv[o]``), so products of entries and of the factors of
    :func:`boltzmann` (filled here into ``bz``/``shift``) stay <= 2: no exp or log per row.  Per entry
    ``z``, the mean and variance of the energy (``mE``/``vE``, not measured from a minimum) and of M
    (``mM``/``vM``), combined as in :func:`forward`.

    Parameters
    ----------
    beta : float
        Inverse temperature.
    rb, ub : ndarray of int64, shape (T,)
        Runs of each step (:func:`_scaled_runs`).
    k : ndarray of int64, shape (T,)
        Separator size of each step; the clique of step t has k[t] + 1 bits.
    a : ndarray of int64, shape (T,)
        Low bits of each step's clique index (the lo/hi split of the index maps and local fields).
    child_ptr : ndarray of int64, shape (T+1,)
        CSR pointers into ``child_ids``.
    child_ids : ndarray of int64
        Steps whose message step t consumes, one per separator, at ``child_ptr[t]:child_ptr[t + 1]``.
    lo_off, hi_off : ndarray of int64, one entry per child slot
        Offsets into ``maps`` of each child slot's low and high index map (module docstring).
    maps : ndarray of int64
        The index maps.
    phi_lo, phi_hi : ndarray of int64, shape (T,)
        Offsets of each step's low and high local-field tables in ``phi``.
    phi : ndarray of float64
        The local-field tables (:func:`fill_phi`).
    mo_off : ndarray of int64, shape (T,)
        Message offsets for this pass (a fused child has no slot; its children live until step t).
    own : ndarray of int64, shape (T,)
        The step whose slot each step's message is in (siblings of one separator share it).
    bz : ndarray of float64, shape (2 n_phi,)
        Scratch: the factors of :func:`boltzmann`.
    shift : ndarray of float64, shape (T,)
        Scratch: the ``shift`` of :func:`boltzmann`.
    lsc, cinv : ndarray of float64, shape (T,)
        Scratch: ln of each slot's scale and 1 / its largest entry.
    z, mE, vE, mM, vM : ndarray of float64
        The message arenas, as above; written here.
    w_off : ndarray of int64, shape (T,)
        Offset of each step's rows in ``wk``.
    wk : ndarray of float64
        Output with ``keep_w``, as ``lp`` of :func:`forward`.
    keep_w : bool
        Whether to fill ``wk``, as ``keep_lp`` of :func:`forward`.
    parallel_rows : int
        Steps with at least this many rows run on the threads.
    fused : ndarray of int64, shape (T,)
        The child step t - 1 whose rows step t computes block by block in its own runs
        (-1: none; :func:`isingvar.exact.elimination._fusion`), so that its message never goes to memory:
        it is read divided by 2 (its entries are <= 2 as written) instead of by its largest entry, not
        yet known.

    Returns
    -------
    ndarray of float64, shape (6,)
        ok (1.0, or 0.0 when an entry of some message fell below :data:`SCALED_TINY` or was not finite:
        the pass stops there and the caller must use :func:`forward`), ln Z, <E>, Var E, <M>, Var M.
    """
    out = np.zeros(6)
    boltzmann(beta, k, a, phi_lo, phi_hi, phi, bz, shift)
    T = k.size
    for t in range(T):
        if t + 1 < T and fused[t + 1] == t:
            continue  # computed inside step t + 1
        c = fused[t]
        if c >= 0:
            ls = shift[c]
            for q in range(child_ptr[c], child_ptr[c + 1]):
                ls += lsc[child_ids[q]]
            lsc[c] = ls + np.log(2.0)
            cinv[c] = 0.5
        o = own[t]
        n = 1 << k[t]
        if n >= parallel_rows:
            lo, hi, lo_c, hi_c = _scaled_runs_parallel(t, min(MAX_CHUNKS, n >> rb[t]), rb, ub, k, a, child_ptr, child_ids,
                                                       lo_off, hi_off, maps, phi_lo, phi_hi, phi, bz, mo_off, own, cinv,
                                                       z, mE, vE, mM, vM, w_off, wk, keep_w, fused)
        else:
            lo, hi, lo_c, hi_c = _scaled_runs(t, 0, n >> rb[t], rb, ub, k, a, child_ptr, child_ids, lo_off, hi_off,
                                              maps, phi_lo, phi_hi, phi, bz, mo_off, own, cinv, z, mE, vE, mM, vM,
                                              w_off, wk, keep_w, fused, z.size - (2 << rb.max()))
        # every factor and every entry as read is <= 1, so hi <= 2 (to rounding) unless a NaN came in; an
        # entry below SCALED_TINY could carry an underflowed product's error (<= 1e-308) beyond 1e-18
        if not lo >= SCALED_TINY or not hi <= 4.0:
            return out
        if c >= 0 and (not lo_c >= SCALED_TINY or not hi_c <= 4.0):
            return out
        ls = shift[t]
        for q in range(child_ptr[t], child_ptr[t + 1]):
            ls += lsc[child_ids[q]]
        if o != t:
            ls += lsc[o]  # the slot's earlier product, as read (divided by its largest entry)
        lsc[o] = ls + np.log(hi)  # the slot as read from here on: z / hi
        cinv[o] = 1.0 / hi
        if k[t] == 0:  # a root: one entry; the component's values add up
            mo = mo_off[t]
            out[1] += np.log(z[mo] * cinv[o]) + lsc[o]
            out[2] += mE[mo]
            out[3] += vE[mo]
            out[4] += mM[mo]
            out[5] += vM[mo]
    out[0] = 1.0
    return out


@njit
def _small_weight(w0, w1):
    """The two weights of s_v given a row (w0 + w1 = 1) in one float64: the smaller one, signed
    (w1 if w1 <= w0, else -w0; a w0 of exactly 0 is kept as -5e-324).  The larger is 1 - the smaller,
    so both keep their relative accuracy (1 - w would lose it for w near 1)."""
    if w1 <= w0:
        return w1
    return -max(w0, 5e-324)


@njit
def backward(rb, ub, var, k, a, child_ptr, child_ids, lo_off, hi_off, maps, w_off, wk, p_off, pm, sites):
    """Per-site <s_v> from the weights a forward pass left in ``wk`` (at ``w_off[t]``, every one kept).

    Root first, each step's separator marginal P(S_t = y) (in ``pm`` at ``p_off[t]``, a slot per
    separator: the forward's reused slots, whose lifetimes are the same read backwards; a root's is
    1) times the row's weights of s_v gives its clique marginal, P(x = 2y + b) = P(y) w_b(y): S_t
    separates the summed-out spins from the rest, so w_b(y) is P(s_v | S_t = y).  Each child slot's
    marginal is the sum of the clique's over the spins it lacks, added run by run (``rb``/``ub``, in
    :func:`_scaled_runs`'s order).  Probabilities only, no exp or log; one that underflows is below 1e-308 of
    the whole.

    Parameters
    ----------
    rb, ub : ndarray of int64, shape (T,)
        Runs of each step (:func:`_scaled_runs`).
    var : ndarray of int64, shape (T,)
        Spin eliminated at each step.
    k : ndarray of int64, shape (T,)
        Separator size of each step; the clique of step t has k[t] + 1 bits.
    a : ndarray of int64, shape (T,)
        Low bits of each step's clique index (the lo/hi split of the index maps and local fields).
    child_ptr : ndarray of int64, shape (T+1,)
        CSR pointers into ``child_ids``.
    child_ids : ndarray of int64
        Steps whose message step t consumes, one per separator, at ``child_ptr[t]:child_ptr[t + 1]``.
    lo_off, hi_off : ndarray of int64, one entry per child slot
        Offsets into ``maps`` of each child slot's low and high index map (module docstring).
    maps : ndarray of int64
        The index maps.
    w_off : ndarray of int64, shape (T,)
        Offset of each step's rows in ``wk``.
    wk : ndarray of float64
        The weights of s_v of every row (:func:`_small_weight`), as a forward pass kept them.
    p_off : ndarray of int64, shape (T,)
        Offset of each step's separator marginal in ``pm``.
    pm : ndarray of float64
        Scratch (the forward's reused arena size).
    sites : ndarray of float64, shape (N,)
        Output: <s_v> of every spin.
    """
    nmax = 1 << rb.max()
    p0_s, p1_s, s0_s, s1_s = np.empty(nmax), np.empty(nmax), np.empty(nmax), np.empty(nmax)
    for t in range(k.size - 1, -1, -1):
        nr = 1 << rb[t]
        at = a[t]
        maskl = (1 << at) - 1
        c0 = child_ptr[t]
        c1 = child_ptr[t + 1]
        if k[t] == 0:
            pm[p_off[t]] = 1.0
        for q in range(c0, c1):
            cp = p_off[child_ids[q]]
            pm[cp:cp + (1 << k[child_ids[q]])] = 0.0
        p0 = p0_s[:nr]
        p1 = p1_s[:nr]
        # P(s_v = +1), P(s_v = -1) summed per position in the run, then over the positions: a running
        # sum would be one chain of dependent adds (half the pass), which LLVM may not vectorise
        s0 = s0_s[:nr]
        s1 = s1_s[:nr]
        s0[:] = 0.0
        s1[:] = 0.0
        p = ub[t]
        pmask = (1 << p) - 1
        for rr in range(1 << (k[t] - rb[t])):
            ys = _run(rr, p, pmask) * nr
            pr = pm[p_off[t] + ys:p_off[t] + ys + nr]
            wr = wk[w_off[t] + ys:w_off[t] + ys + nr]
            for j in range(nr):
                c = wr[j]
                small = pr[j] * abs(c)
                big = pr[j] - small
                p0[j] = big if c >= 0.0 else small
                p1[j] = small if c >= 0.0 else big
            for j in range(nr):
                s0[j] += p0[j]
            for j in range(nr):
                s1[j] += p1[j]
            x0 = 2 * ys
            xl0 = x0 & maskl
            xh = x0 >> at
            for q in range(c0, c1):
                i0 = p_off[child_ids[q]] + maps[lo_off[q] + xl0] + maps[hi_off[q] + xh]
                pc = pm[i0:i0 + 2 * nr]
                for j in range(nr):
                    pc[2 * j] += p0[j]
                    pc[2 * j + 1] += p1[j]
        pp = s0.sum()
        pn = s1.sum()
        sites[var[t]] = (pp - pn) / (pp + pn)


@njit
def min_sum(k, a, child_ptr, child_ids, lo_off, hi_off, maps, phi_lo, phi_hi, phi, off, acc, arena, bit_off, bits):
    """Ground-state energy by min-sum over the same steps (beta-free).

    Parameters
    ----------
    k : ndarray of int64, shape (T,)
        Separator size of each step; the clique of step t has k[t] + 1 bits.
    a : ndarray of int64, shape (T,)
        Low bits of each step's clique index (the lo/hi split of the index maps and local fields).
    child_ptr : ndarray of int64, shape (T+1,)
        CSR pointers into ``child_ids``.
    child_ids : ndarray of int64
        Steps whose message step t consumes, one per separator, at ``child_ptr[t]:child_ptr[t + 1]``.
    lo_off, hi_off : ndarray of int64, one entry per child slot
        Offsets into ``maps`` of each child slot's low and high index map (module docstring).
    maps : ndarray of int64
        The index maps.
    phi_lo, phi_hi : ndarray of int64, shape (T,)
        Offsets of each step's low and high local-field tables in ``phi``.
    phi : ndarray of float64
        The local-field tables (:func:`fill_phi`).
    off : ndarray of int64, shape (T,)
        Offset of each step's message in ``arena``.
    acc : ndarray of bool, shape (T,)
        Whether step t adds its message into its slot, as in :func:`forward`.
    arena : ndarray of float64
        Message arena (slots reused, as in :func:`forward`).
    bit_off : ndarray of int64, shape (T,)
        Offset of each step's choices in ``bits``.
    bits : ndarray of uint8
        Output, bit-packed: at bit ``bit_off[t] + y``, 1 where s_v = -1 minimises given y.

    Returns
    -------
    float
        E0, the ground-state energy.
    """
    e_min = 0.0
    for t in range(k.size):
        at = a[t]
        maskl = (1 << at) - 1
        c0 = child_ptr[t]
        c1 = child_ptr[t + 1]
        po = off[t]
        for y in range(1 << k[t]):
            x0 = 2 * y
            xl0 = x0 & maskl
            xl1 = xl0 | 1
            xh = x0 >> at
            ph = phi[phi_lo[t] + xl0] + phi[phi_hi[t] + xh]
            e0 = -ph
            e1 = ph
            for q in range(c0, c1):
                c = child_ids[q]
                base = maps[hi_off[q] + xh]
                e0 += arena[off[c] + maps[lo_off[q] + xl0] + base]
                e1 += arena[off[c] + maps[lo_off[q] + xl1] + base]
            b = bit_off[t] + y
            if e1 < e0:
                bits[b >> 3] |= np.uint8(1 << (b & 7))
            else:
                bits[b >> 3] &= np.uint8(255 - (1 << (b & 7)))
            if acc[t]:
                arena[po + y] += min(e0, e1)
            else:
                arena[po + y] = min(e0, e1)
        if k[t] == 0:
            e_min += arena[po]
    return e_min


@njit
def backtrack(var, k, scope_ptr, scope_vars, bit_off, bits, spins):
    """One ground state from :func:`min_sum`'s choices, last step first, into ``spins`` float64 (N,).

    Parameters
    ----------
    var : ndarray of int64, shape (T,)
        Spin eliminated at each step.
    k : ndarray of int64, shape (T,)
        Separator size of each step.
    scope_ptr, scope_vars : ndarray of int64
        The separator's spins: bit j + 1 of the clique of step t is ``scope_vars[scope_ptr[t] + j]``.
    bit_off : ndarray of int64, shape (T,)
        Offset of each step's choices in ``bits``.
    bits : ndarray of uint8
        The choices :func:`min_sum` wrote.
    spins : ndarray of float64, shape (N,)
        Output: the ground state, entries +-1.
    """
    for t in range(k.size - 1, -1, -1):
        y = 0
        for j in range(k[t]):
            if spins[scope_vars[scope_ptr[t] + j]] < 0:
                y |= 1 << j
        b = bit_off[t] + y
        spins[var[t]] = -1.0 if (bits[b >> 3] >> (b & 7)) & 1 else 1.0
