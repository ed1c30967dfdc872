"""Triton kernels of :mod:`cubit_lite.mixers.triton_solve` (imported only when they run).

Every tensor is contiguous float32, flattened to ``(B·H, Tp, W)``; ``Tp`` is a multiple
of the block, ``W`` a power of two, so no load needs a mask. Shapes and equations are in
``triton_solve``'s module docstring.
"""

import triton
import triton.language as tl


@triton.jit
def row_lse(A, Bk, LSE, PDIAG, Tp, NB, STRICT: tl.constexpr, C: tl.constexpr, BD: tl.constexpr,
            PREC: tl.constexpr):
    """LSE[t] = log Σ_{j allowed} exp(a_t · b_j) (0 for an empty row) and the diagonal block
    PDIAG[i] = P_ii = exp(ℓ_ii − lse_i) (masked), from the same logits. Grid (Tp/C, BH)."""
    i = tl.program_id(0)
    bh = tl.program_id(1)
    r = tl.arange(0, C)
    dims = tl.arange(0, BD)
    rows = i * C + r
    a = tl.load(A + bh * Tp * BD + rows[:, None] * BD + dims[None, :])
    m = tl.full([C], float("-inf"), tl.float32)
    acc = tl.zeros([C], tl.float32)
    for j in range(0, i + 1):
        cols = j * C + r
        b = tl.load(Bk + bh * Tp * BD + cols[:, None] * BD + dims[None, :])
        logits = tl.dot(a, tl.trans(b), input_precision=PREC)
        if STRICT:
            keep = cols[None, :] < rows[:, None]
        else:
            keep = cols[None, :] <= rows[:, None]
        logits = tl.where(keep, logits, float("-inf"))
        m_new = tl.maximum(m, tl.max(logits, 1))
        shift = tl.where(m_new == float("-inf"), 0.0, m_new)
        acc = acc * tl.exp(m - shift) + tl.sum(tl.exp(logits - shift[:, None]), 1)
        m = m_new
    lse = tl.where(acc > 0, m + tl.log(acc), 0.0)
    tl.store(LSE + bh * Tp + rows, lse)
    # The diagonal block again, by the same product as in the loop's last step (j = i).
    b = tl.load(Bk + bh * Tp * BD + rows[:, None] * BD + dims[None, :])
    logits = tl.dot(a, tl.trans(b), input_precision=PREC)
    if STRICT:
        keep = rows[None, :] < rows[:, None]
    else:
        keep = rows[None, :] <= rows[:, None]
    p_diag = tl.where(keep, tl.exp(logits - lse[:, None]), 0.0)
    tl.store(PDIAG + (bh * NB + i) * C * C + r[:, None] * C + r[None, :], p_diag)


@triton.jit
def forward_substitution(A, Bk, Y, S, LSE, DINV, U, OFF, NB, Tp, C: tl.constexpr, BD: tl.constexpr,
                         DV: tl.constexpr, BV: tl.constexpr, PREC: tl.constexpr):
    """U_i = M_ii⁻¹ (Y_i − s_i ⊙ OFF_i), OFF_i = Σ_{j<i} P_ij U_j. Grid (BH, DV/BV)."""
    bh = tl.program_id(0)
    v = tl.program_id(1)
    r = tl.arange(0, C)
    dims = tl.arange(0, BD)
    vc = v * BV + tl.arange(0, BV)
    a_base = A + bh * Tp * BD
    b_base = Bk + bh * Tp * BD
    y_base = Y + bh * Tp * DV
    u_base = U + bh * Tp * DV
    off_base = OFF + bh * Tp * DV
    for i in range(0, NB):
        rows = i * C + r
        a = tl.load(a_base + rows[:, None] * BD + dims[None, :])
        lse = tl.load(LSE + bh * Tp + rows)
        acc = tl.zeros([C, BV], tl.float32)
        for j in range(0, i):
            cols = j * C + r
            b = tl.load(b_base + cols[:, None] * BD + dims[None, :])
            p = tl.exp(tl.dot(a, tl.trans(b), input_precision=PREC) - lse[:, None])
            # U_j was written by this program: read it through L2 (".cg"), not a stale L1 line.
            u_j = tl.load(u_base + cols[:, None] * DV + vc[None, :], cache_modifier=".cg")
            acc += tl.dot(p, u_j, input_precision=PREC)
        s = tl.load(S + bh * Tp + rows)
        rhs = tl.load(y_base + rows[:, None] * DV + vc[None, :]) - s[:, None] * acc
        dinv = tl.load(DINV + (bh * NB + i) * C * C + r[:, None] * C + r[None, :])
        u_i = tl.dot(dinv, rhs, input_precision="ieee")
        tl.store(u_base + rows[:, None] * DV + vc[None, :], u_i)
        tl.store(off_base + rows[:, None] * DV + vc[None, :], acc)
        tl.debug_barrier()  # U_i visible to the whole program before block row i + 1


@triton.jit
def backward_substitution(A, Bk, S, LSE, DINV, DU, DY, NB, Tp, C: tl.constexpr, BD: tl.constexpr,
                          DV: tl.constexpr, BV: tl.constexpr, PREC: tl.constexpr):
    """dY_i = M_ii⁻ᵀ (dU_i − Σ_{k>i} P_kiᵀ (s ⊙ dY)_k), block columns in reverse. Grid (BH, DV/BV)."""
    bh = tl.program_id(0)
    v = tl.program_id(1)
    r = tl.arange(0, C)
    dims = tl.arange(0, BD)
    vc = v * BV + tl.arange(0, BV)
    a_base = A + bh * Tp * BD
    b_base = Bk + bh * Tp * BD
    dy_base = DY + bh * Tp * DV
    for step in range(0, NB):
        i = NB - 1 - step
        cols = i * C + r
        b = tl.load(b_base + cols[:, None] * BD + dims[None, :])
        acc = tl.zeros([C, BV], tl.float32)
        for k in range(i + 1, NB):
            rows = k * C + r
            a = tl.load(a_base + rows[:, None] * BD + dims[None, :])
            lse = tl.load(LSE + bh * Tp + rows)
            p = tl.exp(tl.dot(a, tl.trans(b), input_precision=PREC) - lse[:, None])  # (rows k, cols i)
            s = tl.load(S + bh * Tp + rows)
            w = s[:, None] * tl.load(dy_base + rows[:, None] * DV + vc[None, :], cache_modifier=".cg")
            acc += tl.dot(tl.trans(p), w, input_precision=PREC)
        rhs = tl.load(DU + bh * Tp * DV + cols[:, None] * DV + vc[None, :]) - acc
        dinv_t = tl.load(DINV + (bh * NB + i) * C * C + r[None, :] * C + r[:, None])  # (M_ii⁻¹)ᵀ
        dy_i = tl.dot(dinv_t, rhs, input_precision="ieee")
        tl.store(dy_base + cols[:, None] * DV + vc[None, :], dy_i)
        tl.debug_barrier()


@triton.jit
def _logit_grad_tile(a, b, lse, s, c, dy, u, rows, cols, STRICT: tl.constexpr, PREC: tl.constexpr):
    """dℓ on one tile: s_t P_tj (c_t − dY_t · u_j), zero outside the mask."""
    p = tl.exp(tl.dot(a, tl.trans(b), input_precision=PREC) - lse[:, None])
    if STRICT:
        keep = cols[None, :] < rows[:, None]
    else:
        keep = cols[None, :] <= rows[:, None]
    p = tl.where(keep, p, 0.0)
    dp = tl.dot(dy, tl.trans(u), input_precision=PREC)
    return s[:, None] * p * (c[:, None] - dp)


@triton.jit
def grad_rows(A, Bk, U, DY, S, LSE, CV, DA, Tp, STRICT: tl.constexpr, G: tl.constexpr, BD: tl.constexpr,
              DV: tl.constexpr, PREC: tl.constexpr):
    """da_t = Σ_{j<=t} dℓ_tj b_j for one block of rows. Grid (Tp/G, BH)."""
    i = tl.program_id(0)
    bh = tl.program_id(1)
    r = tl.arange(0, G)
    dims = tl.arange(0, BD)
    vd = tl.arange(0, DV)
    rows = i * G + r
    a = tl.load(A + bh * Tp * BD + rows[:, None] * BD + dims[None, :])
    lse = tl.load(LSE + bh * Tp + rows)
    s = tl.load(S + bh * Tp + rows)
    c = tl.load(CV + bh * Tp + rows)
    dy = tl.load(DY + bh * Tp * DV + rows[:, None] * DV + vd[None, :])
    acc = tl.zeros([G, BD], tl.float32)
    for j in range(0, i + 1):
        cols = j * G + r
        b = tl.load(Bk + bh * Tp * BD + cols[:, None] * BD + dims[None, :])
        u = tl.load(U + bh * Tp * DV + cols[:, None] * DV + vd[None, :])
        ds = _logit_grad_tile(a, b, lse, s, c, dy, u, rows, cols, STRICT, PREC)
        acc += tl.dot(ds, b, input_precision=PREC)
    tl.store(DA + bh * Tp * BD + rows[:, None] * BD + dims[None, :], acc)


@triton.jit
def grad_cols(A, Bk, U, DY, S, LSE, CV, DB, Tp, NG, STRICT: tl.constexpr, G: tl.constexpr,
              BD: tl.constexpr, DV: tl.constexpr, PREC: tl.constexpr):
    """db_j = Σ_{t>=j} dℓ_tj a_t for one block of columns. Grid (Tp/G, BH)."""
    j = tl.program_id(0)
    bh = tl.program_id(1)
    r = tl.arange(0, G)
    dims = tl.arange(0, BD)
    vd = tl.arange(0, DV)
    cols = j * G + r
    b = tl.load(Bk + bh * Tp * BD + cols[:, None] * BD + dims[None, :])
    u = tl.load(U + bh * Tp * DV + cols[:, None] * DV + vd[None, :])
    acc = tl.zeros([G, BD], tl.float32)
    for i in range(j, NG):
        rows = i * G + r
        a = tl.load(A + bh * Tp * BD + rows[:, None] * BD + dims[None, :])
        lse = tl.load(LSE + bh * Tp + rows)
        s = tl.load(S + bh * Tp + rows)
        c = tl.load(CV + bh * Tp + rows)
        dy = tl.load(DY + bh * Tp * DV + rows[:, None] * DV + vd[None, :])
        ds = _logit_grad_tile(a, b, lse, s, c, dy, u, rows, cols, STRICT, PREC)
        acc += tl.dot(tl.trans(ds), a, input_precision=PREC)
    tl.store(DB + bh * Tp * BD + cols[:, None] * BD + dims[None, :], acc)
