"""Variable-elimination kernels: one pass over a bucket tree per beta, in the log domain.

The structure (built once per coupling pattern by :mod:`isingvar.elimination`) is a list of steps
t = 0..T-1.  Step t eliminates one spin v; its clique C_t has K = k[t] + 1 bits: bit 0 is v
(0 -> s_v = +1, 1 -> s_v = -1, as everywhere in isingvar) and bits 1..k[t] are the separator S_t.
Its message, a table over the 2^k[t] configurations y of S_t (x = 2y + bit of v), goes to one later
step (its parent), whose clique contains S_t; a step with k = 0 is the root of a connected component.

Index maps: the entry of child message c seen from configuration x of its parent's clique is
``maps[lo_off[q] + (x & (2^a - 1))] + maps[hi_off[q] + (x >> a)]`` (q the child's slot, a = a[t]):
two lookups instead of a loop over bits.  The local field of v, h_v + sum_u J_vu s_u over the
original bonds to spins of S_t, is ``phi[phi_lo[t] + (x & mask)] + phi[phi_hi[t] + (x >> a)]``.

Tables hold ln of the summed Boltzmann weights (no scaling, so no underflow at any beta), measured
from the least energy given y, and the conditional mean and variance of E and of M = sum_i s_i, combined as cumulants:
a product of independent parts adds means and variances, a sum over s_v mixes them with
Chan et al.'s pairwise update (var = w0 v0 + w1 v1 + w0 w1 (mu0 - mu1)^2): every term is >= 0, so
the heat capacity and susceptibility carry no cancellation (raw moments <E^2> - <E>^2 would).
"""

import numpy as np
from numba import prange

from ._jit import njit, pjit


@njit
def fill_phi(k, a, var, edge_ptr, edge_bit, edge_id, J, h, phi_lo, phi_hi, phi):
    """Local fields of each step's spin, split into low/high tables (module docstring).

    ``edge_ptr`` int64 (T+1,), ``edge_bit``/``edge_id`` int64: the bit in C_t and the bond index of
    each original bond of step t's spin to its separator; ``J`` float64 (E,), ``h`` float64 (N,);
    ``phi`` float64 output, filled at offsets ``phi_lo``/``phi_hi`` (int64 (T,)).
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
            lp[lp_off[t] + y] = res - beta * low
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
    ln Z + beta U are sums of non-negative terms: no cancellation at large beta.  With ``keep_lp``
    also ln of the summed weights, lq - beta emin, into ``lp`` at ``lp_off[t]`` (for :func:`backward`).
    A step with ``acc[t]`` adds its message into the slot (a sibling's, of the same separator) instead
    of writing it: a product of independent parts adds every one of these six quantities.
    Returns float64 (6,): E0, ln Z + beta E0, <E> - E0, Var E, <M>, Var M.
    ``parallel_rows``: steps with at least this many rows run on the threads (numba's thread count).
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


@njit
def backward(beta, var, k, a, child_ptr, child_ids, lo_off, hi_off, maps, phi_lo, phi_hi, phi, lp_off, lp,
             grp_ptr, grp_ids, tmp_c, tmp_s, sites):
    """Per-site <s_v> from the messages :func:`forward` left in ``lp`` (every one kept: offsets disjoint).

    Calibration in the log domain, root first: the clique's log-probabilities are its bucket product
    plus (ln P(S_t) - message_t) (the Hugin update, a subtraction here, so no division by zero);
    each child's separator marginal is scattered from their exponentials and its log written over
    the child's message, less the message.
    ``lp`` is overwritten.  Child slot q stands for the steps grp_ids[grp_ptr[q]:grp_ptr[q + 1]] (one
    separator, their messages kept apart here).  ``tmp_c``/``tmp_s``: float64 scratch of the largest
    clique/separator size.
    Writes ``sites`` float64 (N,).
    """
    for t in range(k.size - 1, -1, -1):
        at = a[t]
        maskl = (1 << at) - 1
        c0 = child_ptr[t]
        c1 = child_ptr[t + 1]
        po = lp_off[t]
        root = k[t] == 0
        pp = 0.0
        pm = 0.0
        for y in range(1 << k[t]):
            x0 = 2 * y
            xl0 = x0 & maskl
            xl1 = xl0 | 1
            xh = x0 >> at
            ph = phi[phi_lo[t] + xl0] + phi[phi_hi[t] + xh]
            l0 = beta * ph
            l1 = -l0
            for q in range(c0, c1):
                base = maps[hi_off[q] + xh]
                i0 = maps[lo_off[q] + xl0] + base
                i1 = maps[lo_off[q] + xl1] + base
                for g in range(grp_ptr[q], grp_ptr[q + 1]):
                    l0 += lp[lp_off[grp_ids[g]] + i0]
                    l1 += lp[lp_off[grp_ids[g]] + i1]
            d = -lp[po] if root else lp[po + y]
            p0 = np.exp(l0 + d)  # P(x): probabilities <= 1, an underflow is below 1e-308 of the whole
            p1 = np.exp(l1 + d)
            tmp_c[x0] = p0
            tmp_c[x0 + 1] = p1
            pp += p0
            pm += p1
        sites[var[t]] = (pp - pm) / (pp + pm)
        for q in range(c0, c1):
            c = child_ids[q]
            ns = 1 << k[c]
            for z in range(ns):
                tmp_s[z] = 0.0
            for x in range(1 << (k[t] + 1)):
                z = maps[lo_off[q] + (x & maskl)] + maps[hi_off[q] + (x >> at)]
                tmp_s[z] += tmp_c[x]
            for g in range(grp_ptr[q], grp_ptr[q + 1]):
                cp = lp_off[grp_ids[g]]
                for z in range(ns):
                    lp[cp + z] = np.log(tmp_s[z]) - lp[cp + z]


@njit
def min_sum(k, a, child_ptr, child_ids, lo_off, hi_off, maps, phi_lo, phi_hi, phi, off, acc, arena, bit_off, bits):
    """Ground-state energy by min-sum over the same steps (beta-free).

    ``arena`` float64 messages at ``off`` (reused, and added into with ``acc``, as in :func:`forward`); ``bits`` uint8 (bit-packed)
    receives, at bit ``bit_off[t] + y``, 1 where s_v = -1 minimises given y.  Returns E0 (float).
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
    """One ground state from :func:`min_sum`'s choices, last step first, into ``spins`` float64 (N,)."""
    for t in range(k.size - 1, -1, -1):
        y = 0
        for j in range(k[t]):
            if spins[scope_vars[scope_ptr[t] + j]] < 0:
                y |= 1 << j
        b = bit_off[t] + y
        spins[var[t]] = -1.0 if (bits[b >> 3] >> (b & 7)) & 1 else 1.0
