//! The catalogue of attacks: what `mira attacks` lists and `docs/attacks.md` documents.

/// One attack of the library, described for people.
#[derive(Debug, Clone, PartialEq)]
pub struct AttackInfo {
    /// `kind` in experiment files, or the whole selector when it is not a kind
    /// (`scope = "universal"`); `None`: not selectable there.
    pub kind: Option<&'static str>,
    /// Display name.
    pub name: &'static str,
    /// The paper.
    pub paper: &'static str,
    /// Threat model.
    pub threat: &'static str,
    /// Parameters with their defaults.
    pub parameters: &'static str,
    /// What it needs from the model.
    pub access: &'static str,
}

/// Every attack, in the order of the docs: the registered attacks (each file's own entry),
/// then the scopes and threat models that are not a `kind`. All of them see only an
/// objective, so each works on every task (segmentation, registration, regression; 2D and 3D).
pub fn catalogue() -> Vec<AttackInfo> {
    let mut all = crate::attack::registered();
    all.extend([
        AttackInfo {
            kind: Some("scope = \"universal\""),
            name: "Universal perturbation",
            paper: "Moosavi-Dezfooli et al. 2017 (fitted by projected gradient ascent, as in S3)",
            threat: "one δ in the L∞ or L2 ball for a whole population, fitted on training inputs, \
                     added unchanged to held-out inputs (then clipped to [0, 1])",
            parameters: "steps = 40, rel_step = 0.1 (passes over the fitting set)",
            access: "input gradient",
        },
        AttackInfo {
            kind: Some("scope = \"min-norm\""),
            name: "Minimum-norm (DDN-style; segmentation, registration, brain-age and shape files)",
            paper: "Rony et al. 2019 (decoupled direction and norm; L∞ with sign steps)",
            threat: "per case, the smallest L∞ or L2 perturbation (up to a cap) that meets a task \
                     criterion: age error above k years, TRE above tolerance, Dice below a threshold",
            parameters: "steps = 100, rel_step = 0.5, gamma = 0.05",
            access: "input gradient + criterion",
        },
        AttackInfo {
            kind: Some("task = \"synthesis\""),
            name: "Synthesis: deformation + bias field (Dice-targeted)",
            paper: "Chen et al. 2019 (intelligent image synthesis to attack a segmentation CNN); \
                    B-spline fold-free bound: Choi & Lee 2000",
            threat: "smooth B-spline displacement (mm bound, fold-free), smooth multiplicative \
                     bias field, optional small additive term; judged against the equally \
                     warped truth; per image the smallest budget reaching a requested Dice drop, \
                     or a learned generator",
            parameters: "grid = 6, max_disp_px = 4, bias_grid = 4, max_bias = 0.2, \
                         additive_eps = 0, steps = 20, rel_step = 0.15, smoothness = 0",
            access: "input gradient (through the differentiable warp)",
        },
        AttackInfo {
            kind: None,
            name: "random search (sanity check)",
            paper: "gradient-free baseline of the evaluation checks (docs/checks.md)",
            threat: "L∞ ball; random sign perturbations redrawn in square windows, best kept",
            parameters: "queries = 200, window = 0.25",
            access: "objective values only",
        },
    ]);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApgdConfig, IfgsmConfig, MiFgsmConfig, PgdConfig};

    /// The listed defaults are the code's defaults.
    #[test]
    fn catalogue_defaults_match_the_configs() {
        let c = catalogue();
        let params = |k: &str| c.iter().find(|a| a.kind == Some(k)).unwrap().parameters;
        let i = IfgsmConfig::default();
        assert!(
            params("ifgsm").contains(&format!("steps = {}, rel_step = {}", i.steps, i.rel_step))
        );
        let p = PgdConfig::default();
        assert!(params("pgd").contains(&format!(
            "steps = {}, rel_step = {}, restarts = {}",
            p.steps, p.rel_step, p.restarts
        )));
        let m = MiFgsmConfig::default();
        assert!(params("mifgsm").contains(&format!(
            "steps = {}, rel_step = {}, decay = {}",
            m.steps, m.rel_step, m.decay
        )));
        let a = ApgdConfig::default();
        assert!(
            params("apgd").contains(&format!("steps = {}, restarts = {}", a.steps, a.restarts))
        );
        let q = crate::SquareConfig::default();
        assert!(
            params("square").contains(&format!("queries = {}, p_init = {}", q.queries, q.p_init))
        );
        let au = crate::AutoConfig::default();
        assert!(params("auto").contains(&format!(
            "apgd_steps = {}, restarts = {}, square_queries = {}",
            au.apgd_steps, au.restarts, au.square_queries
        )));
        let s = crate::SpsaConfig::default();
        assert!(params("spsa").contains(&format!(
            "queries = {}, samples = {}, delta = {}, lr = {}",
            s.queries, s.samples, s.delta, s.lr
        )));
        let u = crate::UniversalConfig::default();
        assert!(
            params("scope = \"universal\"")
                .contains(&format!("steps = {}, rel_step = {}", u.steps, u.rel_step))
        );
        let m = crate::MinNormConfig::default();
        assert!(params("scope = \"min-norm\"").contains(&format!(
            "steps = {}, rel_step = {}, gamma = {}",
            m.steps, m.rel_step, m.gamma
        )));
        let sy = crate::SynthesisConfig::default();
        assert!(params("task = \"synthesis\"").contains(&format!(
            "grid = {}, max_disp_px = {}, bias_grid = {}, max_bias = {}, additive_eps = {}, \
             steps = {}, rel_step = {}, smoothness = {}",
            sy.grid,
            sy.max_disp_px,
            sy.bias_grid,
            sy.max_bias,
            sy.additive_eps,
            sy.steps,
            sy.rel_step,
            sy.smoothness
        )));
        let r = crate::RandomSearch::default();
        let random = c.iter().find(|a| a.kind.is_none()).unwrap();
        assert!(
            random
                .parameters
                .contains(&format!("queries = {}, window = {}", r.queries, r.window))
        );
    }
}
