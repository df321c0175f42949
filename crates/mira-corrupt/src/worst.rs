//! The worst case within a family: projected ascent on a draw's continuous parameters inside
//! its severity's bounds, the search the runner's worst-case corruption cells are to use
//! (issue 30; not yet wired into the runner).
//!
//! The gradient of the objective with respect to the parameters is taken by central
//! differences (the parameter vectors are short: 1 to 6 values), the step is the sign of it
//! times a share of each parameter's range, and every iterate is projected back into the
//! bounds. The search keeps the iterate with the highest task score, the random draw it
//! starts from included, so the worst case is never less damaging than the random draw by that
//! score (tested).

use crate::{CorruptError, Corruption, Family, Result};

impl Corruption {
    /// The continuous parameters a worst-case search moves (empty for the noise families,
    /// whose draws are noise, not parameters).
    pub fn params(&self) -> Vec<f32> {
        match self {
            Corruption::Motion { shifts, rotations } => shifts
                .iter()
                .skip(1)
                .flatten()
                .chain(rotations.iter().skip(1).flatten())
                .copied()
                .collect(),
            Corruption::Ghosting { intensity, .. } | Corruption::Spike { intensity, .. } => {
                vec![*intensity]
            }
            Corruption::Bias { magnitude, .. } => vec![*magnitude],
            Corruption::Blur { sigma } => vec![*sigma],
            Corruption::Gamma { log_gamma } => vec![*log_gamma],
            Corruption::Gibbs { keep } => vec![*keep],
            Corruption::Anisotropy { factor, .. } => vec![*factor],
            Corruption::WindowShift { shift } => vec![*shift],
            Corruption::Contrast { factor } => vec![*factor],
            Corruption::Rician { .. } | Corruption::CtNoise { .. } | Corruption::Noise { .. } => {
                Vec::new()
            }
        }
    }

    /// This draw with its continuous parameters replaced by `p` (as [`Corruption::params`]
    /// orders them); discrete choices (axes, spike position, noise seeds) are kept.
    pub fn with_params(&self, p: &[f32]) -> Corruption {
        let mut c = self.clone();
        match &mut c {
            Corruption::Motion { shifts, rotations } => {
                let moved = shifts.iter_mut().skip(1).flatten();
                for (k, s) in moved
                    .chain(rotations.iter_mut().skip(1).flatten())
                    .enumerate()
                {
                    *s = p[k];
                }
            }
            Corruption::Ghosting { intensity, .. } | Corruption::Spike { intensity, .. } => {
                *intensity = p[0]
            }
            Corruption::Bias { magnitude, .. } => *magnitude = p[0],
            Corruption::Blur { sigma } => *sigma = p[0],
            Corruption::Gamma { log_gamma } => *log_gamma = p[0],
            Corruption::Gibbs { keep } => *keep = p[0],
            Corruption::Anisotropy { factor, .. } => *factor = p[0],
            Corruption::WindowShift { shift } => *shift = p[0],
            Corruption::Contrast { factor } => *factor = p[0],
            Corruption::Rician { .. } | Corruption::CtNoise { .. } | Corruption::Noise { .. } => {}
        }
        c
    }
}

impl Family {
    /// The bounds of [`Corruption::params`] for a draw of this family at `severity` on
    /// images of spatial size `spatial` (`hu_per_unit`: the CT window's width).
    ///
    /// # Errors
    /// A noise family (nothing to search), a severity outside 1..=5, a CT family without a
    /// width.
    pub fn bounds(
        self,
        severity: u8,
        spatial: [usize; 3],
        hu_per_unit: Option<f32>,
    ) -> Result<Vec<(f32, f32)>> {
        if !(1..=5).contains(&severity) {
            return Err(CorruptError::Invalid(format!(
                "severity {severity} is not in 1..=5"
            )));
        }
        let sym = |v: f32| (-v, v);
        Ok(match self {
            Family::Motion => {
                let t = self.level(severity);
                let axis = |a: usize| if spatial[a] > 1 { sym(t) } else { (0.0, 0.0) };
                let turns = crate::family::rotation_axes(spatial);
                let about = |a: usize| {
                    if turns.contains(&a) {
                        sym(t)
                    } else {
                        (0.0, 0.0)
                    }
                };
                let shifts = (0..2).flat_map(|_| (0..3).map(axis));
                shifts
                    .chain((0..2).flat_map(|_| (0..3).map(about)))
                    .collect()
            }
            Family::Ghosting => vec![(0.0, self.level(severity))],
            Family::Spike => vec![(0.0, self.level(severity))],
            Family::Bias => vec![sym(self.level(severity))],
            Family::Blur => vec![(0.0, self.level(severity))],
            Family::Gamma => vec![sym(self.level(severity))],
            Family::Gibbs => vec![(self.level(severity), 1.0)],
            Family::Anisotropy => vec![(1.0, self.level(severity))],
            Family::WindowShift => {
                let w = hu_per_unit.filter(|w| *w > 0.0).ok_or_else(|| {
                    CorruptError::Invalid("window_shift is in HU: it needs the width".into())
                })?;
                vec![sym(self.level(severity) / w)]
            }
            Family::Contrast => {
                let c = self.level(severity);
                vec![(c, 1.0 / c)]
            }
            Family::Rician | Family::CtNoise | Family::Noise => {
                return Err(CorruptError::Invalid(format!(
                    "{self:?} draws noise: there are no parameters to search"
                )));
            }
        })
    }
}

/// The search's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorstCase {
    /// Ascent steps (each costs 2·P + 1 evaluations for P parameters).
    pub steps: usize,
    /// Step size as a share of each parameter's range.
    pub rel_step: f32,
}

impl Default for WorstCase {
    fn default() -> Self {
        Self {
            steps: 5,
            rel_step: 0.25,
        }
    }
}

impl WorstCase {
    /// Ascends `objective` (higher = worse for the model) over the parameters of `start`
    /// within `bounds`, keeping the iterate of highest `score` (the task's damage), `start`
    /// included. Returns the kept corruption and its score.
    ///
    /// # Errors
    /// A parameter count that does not match `bounds`, or an error of the callbacks.
    pub fn search(
        &self,
        start: &Corruption,
        bounds: &[(f32, f32)],
        objective: &mut dyn FnMut(&Corruption) -> Result<f64>,
        score: &mut dyn FnMut(&Corruption) -> Result<f64>,
    ) -> Result<(Corruption, f64)> {
        let mut p = start.params();
        if p.len() != bounds.len() {
            return Err(CorruptError::Invalid(format!(
                "{} parameters for {} bounds",
                p.len(),
                bounds.len()
            )));
        }
        let project = |p: &mut [f32]| {
            for (v, (lo, hi)) in p.iter_mut().zip(bounds) {
                *v = v.clamp(*lo, *hi);
            }
        };
        project(&mut p);
        let mut best = (start.with_params(&p), score(&start.with_params(&p))?);
        for _ in 0..self.steps {
            let mut next = p.clone();
            for k in 0..p.len() {
                let (lo, hi) = bounds[k];
                let h = 1e-2 * (hi - lo);
                if h <= 0.0 {
                    continue;
                }
                let at = |v: f32| {
                    let mut q = p.clone();
                    q[k] = v;
                    start.with_params(&q)
                };
                let g = objective(&at(p[k] + h))? - objective(&at(p[k] - h))?;
                next[k] =
                    p[k] + self.rel_step * (hi - lo) * (g.signum() as f32) * f32::from(g != 0.0);
            }
            project(&mut next);
            p = next;
            let c = start.with_params(&p);
            let s = score(&c)?;
            if s > best.1 {
                best = (c, s);
            }
        }
        Ok(best)
    }
}
