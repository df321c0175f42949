//! Einsum of one or two operands, as transformers export it (`bhqd,bhkd->bhqk`,
//! `bij,bjk->bik`, `...`-free equations): labels of both operands that the output keeps are
//! batch axes, labels of both that it drops are contracted, the rest are free; each operand
//! is permuted and reshaped to `[batch, free, contracted]` and the product is one batched
//! matrix multiplication, so the gradient is burn's. A label of one operand that the output
//! drops is summed first. Repeated labels in one operand (diagonals) and ellipses are refused.

use crate::error::Result;
use crate::ops::Ctx;
use crate::value::FTensor;

/// `x` with its axes in the order `perm` (a scalar, kept as rank 1 with no labels, as is).
fn permute(x: FTensor, perm: &[usize]) -> FTensor {
    if perm.len() != x.rank() {
        return x;
    }
    crate::map_rank!(x, t => t.permute(std::array::from_fn(|i| perm[i])))
}

/// `x` (labels `have`) with the labels not in `keep` summed away.
fn sum_unused(x: FTensor, have: &mut Vec<char>, keep: &[char]) -> Result<FTensor> {
    let mut x = x;
    let mut i = have.len();
    while i > 0 {
        i -= 1;
        if !keep.contains(&have[i]) {
            let mut d = x.dims();
            x = crate::map_rank!(x, t => t.sum_dim(i));
            d.remove(i);
            x = x.reshape(&d)?;
            have.remove(i);
        }
    }
    Ok(x)
}

/// Axes of `labels` in the order of `want`.
fn positions(labels: &[char], want: &[char]) -> Vec<usize> {
    want.iter()
        .filter_map(|c| labels.iter().position(|l| l == c))
        .collect()
}

pub(crate) fn einsum(ctx: &Ctx<'_>) -> Result<FTensor> {
    let eq = ctx.string("equation", "")?.replace(' ', "");
    let (lhs, out) = eq
        .split_once("->")
        .ok_or_else(|| ctx.unsupported("an equation without `->`"))?;
    if eq.contains('.') {
        return Err(ctx.unsupported("ellipses in the equation"));
    }
    let ops: Vec<Vec<char>> = lhs.split(',').map(|s| s.chars().collect()).collect();
    let out: Vec<char> = out.chars().collect();
    let n = ctx.node.inputs.len();
    if ops.len() != n || !(1..=2).contains(&n) {
        return Err(ctx.unsupported(format!("`{eq}` with {n} inputs (one or two)")));
    }
    for (i, labels) in ops.iter().enumerate() {
        let mut seen = labels.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != labels.len() {
            return Err(ctx.unsupported(format!("a repeated label in operand {i} of `{eq}`")));
        }
        if ctx.input(i)?.dims().len() != labels.len() {
            return Err(ctx.err(format!(
                "operand {i} has rank {}, `{eq}` says {}",
                ctx.input(i)?.dims().len(),
                labels.len()
            )));
        }
    }
    let mut a_l = ops[0].clone();
    let a = ctx.floats(0)?;
    if n == 1 {
        let a = sum_unused(a, &mut a_l, &out)?;
        if out.iter().any(|c| !a_l.contains(c)) {
            return Err(ctx.err(format!("`{eq}`: an output label is not an input label")));
        }
        return Ok(permute(a, &positions(&a_l, &out)));
    }
    let mut b_l = ops[1].clone();
    let b = ctx.floats(1)?;
    let keep_a: Vec<char> = out.iter().chain(&b_l).copied().collect();
    let keep_b: Vec<char> = out.iter().chain(&a_l).copied().collect();
    let a = sum_unused(a, &mut a_l, &keep_a)?;
    let b = sum_unused(b, &mut b_l, &keep_b)?;
    let batch: Vec<char> = out
        .iter()
        .filter(|c| a_l.contains(c) && b_l.contains(c))
        .copied()
        .collect();
    let contract: Vec<char> = a_l
        .iter()
        .filter(|c| b_l.contains(c) && !out.contains(c))
        .copied()
        .collect();
    let free_a: Vec<char> = a_l.iter().filter(|c| !b_l.contains(c)).copied().collect();
    let free_b: Vec<char> = b_l.iter().filter(|c| !a_l.contains(c)).copied().collect();
    let (ad, bd) = (a.dims(), b.dims());
    let size = |labels: &[char], dims: &[usize], of: &[char]| -> Vec<usize> {
        of.iter()
            .map(|c| labels.iter().position(|l| l == c).map_or(1, |i| dims[i]))
            .collect()
    };
    for c in batch.iter().chain(&contract) {
        if size(&a_l, &ad, &[*c]) != size(&b_l, &bd, &[*c]) {
            return Err(ctx.err(format!("`{eq}`: label {c} has different sizes")));
        }
    }
    let prod = |v: Vec<usize>| v.iter().product::<usize>();
    let (nb, nc) = (
        prod(size(&a_l, &ad, &batch)),
        prod(size(&a_l, &ad, &contract)),
    );
    let (nfa, nfb) = (
        prod(size(&a_l, &ad, &free_a)),
        prod(size(&b_l, &bd, &free_b)),
    );
    let order_a: Vec<char> = batch
        .iter()
        .chain(&free_a)
        .chain(&contract)
        .copied()
        .collect();
    let order_b: Vec<char> = batch
        .iter()
        .chain(&contract)
        .chain(&free_b)
        .copied()
        .collect();
    let a3 = permute(a, &positions(&a_l, &order_a))
        .reshape(&[nb, nfa, nc])?
        .into_rank::<3>()?;
    let b3 = permute(b, &positions(&b_l, &order_b))
        .reshape(&[nb, nc, nfb])?
        .into_rank::<3>()?;
    let y = FTensor::R3(a3.matmul(b3));
    let y_l: Vec<char> = batch
        .iter()
        .chain(&free_a)
        .chain(&free_b)
        .copied()
        .collect();
    let mut y_dims = size(&a_l, &ad, &batch);
    y_dims.extend(size(&a_l, &ad, &free_a));
    y_dims.extend(size(&b_l, &bd, &free_b));
    if out.iter().any(|c| !y_l.contains(c)) || out.len() != y_l.len() {
        return Err(ctx.err(format!("`{eq}`: output labels do not match the inputs")));
    }
    let y = y.reshape(&y_dims)?;
    Ok(permute(y, &positions(&y_l, &out)))
}
