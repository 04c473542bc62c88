//! Loading a scenario (file, TOML or JSON string), its content hash, overrides and runs.

use crate::csv::parse_firms;
use crate::error::{Result, ScenarioError};
use crate::limits::SCENARIO_BYTES_MAX;
use crate::model::Model;
use crate::params::set_path;
use crate::results::RunResult;
use crate::run::{RunOptions, run_model};
use crate::spec::{FirmSpec, ScenarioFile};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A validated scenario: the file as written, firms read from its CSV files, and the model.
#[derive(Clone, Debug)]
pub struct Scenario {
    spec: ScenarioFile,
    /// Directory that relative `firm_files` paths are read from; `None` for scenarios
    /// given as strings, which may then not reference files (the HTTP API must not read
    /// the server's disk on a client's behalf).
    base_dir: Option<PathBuf>,
    csv_firms: Arc<Vec<FirmSpec>>,
    /// The reallocation policy read from `allocation.reallocation.policy_file`, if any.
    policy_file: Option<Arc<optimizer::Policy>>,
    /// SHA-256 of the bytes of every file the scenario references (CSV firms, policy).
    csv_digest: String,
    // Private: the model is only ever built by validation, never edited in place.
    model: Model,
}

impl Scenario {
    /// Reads a `.toml` or `.json` scenario file; CSV firm files resolve next to it.
    pub fn from_path(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            action: "cannot read scenario",
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            Scenario::from_json_str(&text, Some(&base))
        } else {
            Scenario::from_toml_str(&text, Some(&base))
        }
    }

    /// Parses TOML text; `base_dir` enables `firm_files`.
    pub fn from_toml_str(text: &str, base_dir: Option<&Path>) -> Result<Scenario> {
        check_size(text)?;
        let spec: ScenarioFile =
            toml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))?;
        Scenario::from_spec(spec, base_dir)
    }

    /// Parses JSON text with the same schema as the TOML file.
    pub fn from_json_str(text: &str, base_dir: Option<&Path>) -> Result<Scenario> {
        check_size(text)?;
        let spec: ScenarioFile =
            serde_json::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))?;
        Scenario::from_spec(spec, base_dir)
    }

    /// Validates an already parsed file.
    pub fn from_spec(spec: ScenarioFile, base_dir: Option<&Path>) -> Result<Scenario> {
        let (csv_firms, mut csv_digest) = read_firm_files(&spec, base_dir)?;
        let policy_file = match read_policy_file(&spec, base_dir)? {
            Some((policy, digest)) => {
                csv_digest.push_str(&digest);
                Some(Arc::new(policy))
            }
            None => None,
        };
        let model = Model::compile_with(&spec, &csv_firms, policy_file.as_deref())?;
        Ok(Scenario {
            spec,
            base_dir: base_dir.map(Path::to_path_buf),
            csv_firms: Arc::new(csv_firms),
            policy_file,
            csv_digest,
            model,
        })
    }

    /// SHA-256 of the canonical JSON of the file plus the bytes of the files it references
    /// (CSV firms, reallocation policy), so the same inputs give the same hash whatever
    /// the file's formatting.
    pub fn content_hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(serde_json::to_vec(&self.spec).unwrap_or_default());
        hasher.update(self.csv_digest.as_bytes());
        hex::encode(hasher.finalize())
    }

    /// A copy with scalars replaced by dotted path (see [`crate::params`]), revalidated.
    pub fn with_overrides(&self, overrides: &[(String, f64)]) -> Result<Scenario> {
        if overrides.is_empty() {
            return Ok(self.clone());
        }
        let mut spec = self.spec.clone();
        // Firm tables can be large: leave them out of the JSON round trip unless a path
        // targets them.
        let touches_firms = overrides.iter().any(|(path, _)| path.starts_with("firms."));
        let firms = if touches_firms {
            Vec::new()
        } else {
            std::mem::take(&mut spec.firms)
        };
        let mut value =
            serde_json::to_value(&spec).map_err(|e| ScenarioError::Parse(e.to_string()))?;
        for (path, number) in overrides {
            set_path(&mut value, path, *number)?;
        }
        let mut spec: ScenarioFile =
            serde_json::from_value(value).map_err(|e| ScenarioError::Parameter {
                path: overrides
                    .iter()
                    .map(|(p, _)| p.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                reason: e.to_string(),
            })?;
        if !touches_firms {
            spec.firms = firms;
        }
        if spec
            .allocation
            .reallocation
            .as_ref()
            .map(|r| &r.policy_file)
            != self
                .spec
                .allocation
                .reallocation
                .as_ref()
                .map(|r| &r.policy_file)
        {
            return Err(ScenarioError::Parameter {
                path: "allocation.reallocation.policy_file".into(),
                reason: "the policy file cannot be changed by an override".into(),
            });
        }
        let model = Model::compile_with(&spec, &self.csv_firms, self.policy_file.as_deref())?;
        Ok(Scenario {
            spec,
            base_dir: self.base_dir.clone(),
            csv_firms: Arc::clone(&self.csv_firms),
            policy_file: self.policy_file.clone(),
            csv_digest: self.csv_digest.clone(),
            model,
        })
    }

    /// The file as written (without the firms of its CSV files).
    pub fn spec(&self) -> &ScenarioFile {
        &self.spec
    }

    /// The validated model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Directory that CSV firm files were read from, if any.
    pub fn base_dir(&self) -> Option<&Path> {
        self.base_dir.as_deref()
    }

    /// Runs the scenario.
    pub fn run(&self, options: &RunOptions) -> Result<RunResult> {
        run_model(&self.model, options)
    }
}

fn check_size(text: &str) -> Result<()> {
    if text.len() > SCENARIO_BYTES_MAX {
        return Err(ScenarioError::invalid(
            "(file)",
            format!("{} bytes, at most {SCENARIO_BYTES_MAX}", text.len()),
        ));
    }
    Ok(())
}

fn read_firm_files(
    spec: &ScenarioFile,
    base_dir: Option<&Path>,
) -> Result<(Vec<FirmSpec>, String)> {
    let mut firms = Vec::new();
    let mut hasher = Sha256::new();
    for (index, file) in spec.firm_files.iter().enumerate() {
        let Some(base) = base_dir else {
            return Err(ScenarioError::invalid(
                format!("firm_files[{index}].path"),
                "file references are only allowed in scenarios loaded from a file",
            ));
        };
        let path = base.join(&file.path);
        let text = std::fs::read_to_string(&path).map_err(|source| ScenarioError::Io {
            action: "cannot read firm file",
            path: path.clone(),
            source,
        })?;
        hasher.update(text.as_bytes());
        firms.extend(parse_firms(&text, &path)?);
    }
    let digest = if spec.firm_files.is_empty() {
        String::new()
    } else {
        hex::encode(hasher.finalize())
    };
    Ok((firms, digest))
}

/// Reads `allocation.reallocation.policy_file` (a TOML policy as in `data/policies/`),
/// relative to `base_dir`; returns the policy and the SHA-256 of its bytes.
fn read_policy_file(
    spec: &ScenarioFile,
    base_dir: Option<&Path>,
) -> Result<Option<(optimizer::Policy, String)>> {
    let Some(file) = spec
        .allocation
        .reallocation
        .as_ref()
        .and_then(|r| r.policy_file.as_ref())
    else {
        return Ok(None);
    };
    let key = "allocation.reallocation.policy_file";
    let Some(base) = base_dir else {
        return Err(ScenarioError::invalid(
            key,
            "file references are only allowed in scenarios loaded from a file",
        ));
    };
    let path = base.join(file);
    let text = std::fs::read_to_string(&path).map_err(|source| ScenarioError::Io {
        action: "cannot read policy file",
        path: path.clone(),
        source,
    })?;
    check_size(&text)?;
    let policy: optimizer::Policy = toml::from_str(&text)
        .map_err(|e| ScenarioError::invalid(key, format!("{}: {e}", path.display())))?;
    Ok(Some((policy, hex::encode(Sha256::digest(text.as_bytes())))))
}

/// Format of scenario text given to [`run_text`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextFormat {
    Toml,
    Json,
}

/// Validates and runs a scenario given as text, with no file references allowed: the
/// entry point for the HTTP API. The result serialises to JSON (`serde`), and
/// `Scenario::content_hash` of the parsed scenario identifies it.
pub fn run_text(
    text: &str,
    format: TextFormat,
    options: &RunOptions,
) -> Result<(Scenario, RunResult)> {
    let scenario = match format {
        TextFormat::Toml => Scenario::from_toml_str(text, None)?,
        TextFormat::Json => Scenario::from_json_str(text, None)?,
    };
    let result = scenario.run(options)?;
    Ok((scenario, result))
}
