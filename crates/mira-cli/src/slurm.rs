//! `mira slurm <experiment.toml> --shards N`: an sbatch job that trains the models, an array
//! job whose task i runs `--shard i/N` once the models are ready, and a merge job after the
//! whole array (`--dependency=afterok`). Mira brings no scheduler of its own.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Arguments of `mira slurm`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The experiment file (of any task).
    pub experiment: PathBuf,
    /// Number of shards (array tasks).
    #[arg(long)]
    pub shards: usize,
    /// Output folder shared by all jobs (default: runs/<experiment name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit per job (Slurm syntax, e.g. 02:00:00).
    #[arg(long)]
    pub time: Option<String>,
    /// CPUs per task.
    #[arg(long, default_value_t = 2)]
    pub cpus_per_task: usize,
    /// GPUs per task (needs a Mira built with a GPU backend).
    #[arg(long)]
    pub gpus_per_task: Option<usize>,
    /// Memory per job (Slurm syntax, e.g. 8G).
    #[arg(long)]
    pub mem: Option<String>,
    /// Write the scripts under OUT/slurm without submitting them.
    #[arg(long)]
    pub dry_run: bool,
    /// Wait for the merge job to finish (`sbatch --wait`); its exit status becomes ours.
    #[arg(long)]
    pub wait: bool,
}

/// Settings shared by the three scripts.
#[derive(Debug, Clone, PartialEq)]
pub struct Jobs {
    /// Experiment name (job names).
    pub name: String,
    /// The mira binary.
    pub mira: PathBuf,
    /// Absolute experiment path.
    pub experiment: PathBuf,
    /// Absolute output folder.
    pub out: PathBuf,
    /// Shards.
    pub shards: usize,
    /// Extra `#SBATCH` lines (partition, time, resources).
    pub directives: Vec<String>,
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

impl Jobs {
    fn header(&self, job: &str, log: &str) -> String {
        let mut s = format!(
            "#!/bin/bash\n#SBATCH --job-name=mira-{}-{job}\n#SBATCH --output={}/slurm/{log}\n",
            self.name,
            self.out.display()
        );
        for d in &self.directives {
            s += &format!("#SBATCH {d}\n");
        }
        s
    }

    /// `prepare.sbatch`, `array.sbatch`, `merge.sbatch`.
    pub fn scripts(&self) -> [(&'static str, String); 3] {
        let (mira, exp, out) = (quote(&self.mira), quote(&self.experiment), quote(&self.out));
        let n = self.shards;
        [
            (
                "prepare.sbatch",
                format!(
                    "{}set -euo pipefail\nexec {mira} run {exp} --out {out} --models-only\n",
                    self.header("prepare", "prepare-%j.log")
                ),
            ),
            (
                "array.sbatch",
                format!(
                    "{}#SBATCH --array=0-{}\nset -euo pipefail\nexec {mira} run {exp} --out {out} \
                     --shard \"${{SLURM_ARRAY_TASK_ID}}/{n}\"\n",
                    self.header("shard", "shard-%a-%A.log"),
                    n - 1
                ),
            ),
            (
                "merge.sbatch",
                format!(
                    "{}set -euo pipefail\nexec {mira} merge {out}\n",
                    self.header("merge", "merge-%j.log")
                ),
            ),
        ]
    }
}

fn sbatch(args: &[String]) -> Result<String> {
    let output = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .output()
        .context("running sbatch (is Slurm installed and on PATH?)")?;
    if !output.status.success() {
        bail!(
            "sbatch {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let id = String::from_utf8_lossy(&output.stdout);
    Ok(id.trim().split(';').next().unwrap_or("").to_string())
}

/// Writes the scripts and (unless `--dry-run`) submits them chained by dependencies.
pub fn main(a: Args) -> Result<()> {
    let exp = mira_eval::Experiment::from_file(&a.experiment)?;
    if !(1..=10_000).contains(&a.shards) {
        return Err(crate::InvalidInput("--shards must be in 1..=10000".into()).into());
    }
    let cwd = std::env::current_dir().context("current folder")?;
    let out = cwd.join(
        a.out
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs").join(exp.name())),
    );
    let mut directives = vec![format!("--cpus-per-task={}", a.cpus_per_task)];
    if let Some(p) = &a.partition {
        directives.push(format!("--partition={p}"));
    }
    if let Some(t) = &a.time {
        directives.push(format!("--time={t}"));
    }
    if let Some(g) = a.gpus_per_task {
        directives.push(format!("--gpus-per-task={g}"));
    }
    if let Some(m) = &a.mem {
        directives.push(format!("--mem={m}"));
    }
    let jobs = Jobs {
        name: exp.name().to_string(),
        mira: std::env::current_exe().context("locating the mira binary")?,
        experiment: cwd.join(&a.experiment),
        out: out.clone(),
        shards: a.shards,
        directives,
    };
    let dir = out.join("slurm");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut paths = Vec::new();
    for (name, body) in jobs.scripts() {
        let path = dir.join(name);
        std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
        paths.push(path.display().to_string());
    }
    if a.dry_run {
        println!("wrote {} (not submitted)", paths.join(", "));
        return Ok(());
    }
    let prepare = sbatch(std::slice::from_ref(&paths[0]))?;
    let array = sbatch(&[format!("--dependency=afterok:{prepare}"), paths[1].clone()])?;
    println!(
        "submitted: prepare {prepare}, shards {array} (array 0-{}), merge after them",
        a.shards - 1
    );
    let mut merge_args = vec![format!("--dependency=afterok:{array}")];
    if a.wait {
        merge_args.push("--wait".into());
    }
    merge_args.push(paths[2].clone());
    let merge = sbatch(&merge_args)?;
    println!("merge job {merge}; results in {}", out.display());
    println!(
        "a failed shard i can be resubmitted alone: sbatch --array=i {} (it resumes)",
        paths[1]
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_chain_prepare_shards_and_merge() {
        let jobs = Jobs {
            name: "s1".into(),
            mira: "/opt/mira bin/mira".into(),
            experiment: "/data/s1.toml".into(),
            out: "/runs/s1".into(),
            shards: 4,
            directives: vec!["--cpus-per-task=2".into(), "--partition=gpu".into()],
        };
        let [(p, prep), (a, array), (m, merge)] = jobs.scripts();
        assert_eq!(
            (p, a, m),
            ("prepare.sbatch", "array.sbatch", "merge.sbatch")
        );
        assert!(prep.starts_with("#!/bin/bash\n#SBATCH --job-name=mira-s1-prepare\n"));
        assert!(prep.contains("#SBATCH --partition=gpu\n"));
        assert!(prep.contains(
            "exec '/opt/mira bin/mira' run '/data/s1.toml' --out '/runs/s1' --models-only"
        ));
        assert!(array.contains("#SBATCH --array=0-3\n"));
        assert!(array.contains("--shard \"${SLURM_ARRAY_TASK_ID}/4\""));
        assert!(array.contains("#SBATCH --output=/runs/s1/slurm/shard-%a-%A.log"));
        assert!(merge.contains("exec '/opt/mira bin/mira' merge '/runs/s1'"));
    }
}
