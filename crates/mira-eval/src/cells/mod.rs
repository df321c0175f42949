//! What the cells of every task share: running a cell's attack on one batch given the task's
//! judge (`cell_attack.rs`), the host-side budget re-check (`budget.rs`) and a cell's identity
//! (`id.rs`).

mod budget;
mod cell_attack;
mod id;

pub use budget::check_budget;
pub(crate) use budget::{check_bounds, memo_key};
pub(crate) use cell_attack::{Attacked, CellAttack, Corruptor};
pub(crate) use id::CellId;
