//! The checked, dense model the engine runs on, and the validation that builds it.
//!
//! `Model::compile` is the only way to get a `Model`: every key of the file is checked
//! here, with errors that name the dotted key and the reason. Series are resolved to one
//! value per model year; firm-year data are stored firm-major in flat vectors.

use crate::curve::Curve;
use crate::error::{Result, ScenarioError};
use crate::limits::{CURVE_PIECES_MAX, DRAWS_MAX, FIRMS_MAX, YEARS_MAX};
use crate::reallocation::OptimizerReallocator;
use crate::spec::{
    AllocationMethod, BankingSpec, Distribution, FirmSpec, MacSpec, MsrSpec, ReallocationRuleKind,
    ReallocationSpec, SCHEMA_VERSION, ScenarioFile, Series, SolverSpec, StepQuantity,
    UnsoldDestination,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// One firm (or an aggregate sector entity).
#[derive(Clone, Debug)]
pub struct Firm {
    pub id: String,
    pub sector: usize,
    pub region: usize,
    pub curve: Curve,
    /// Multiplier on the curve's costs (scenario × sector `mac_scale`).
    pub mac_scale: f64,
}

#[derive(Clone, Debug)]
pub struct Sector {
    pub name: String,
    pub tier: Option<String>,
    pub benchmark_t_per_unit: Option<f64>,
}

/// The allocation rule with its checked parameters.
#[derive(Clone, Debug)]
pub struct AllocationRule {
    pub method: AllocationMethod,
    pub auction_share: f64,
    pub base_year_index: usize,
    pub reallocation: Option<ReallocationSpec>,
    /// The optimizer adapter when `allocation.reallocation.rule = "optimizer"`.
    pub optimizer: Option<Arc<OptimizerReallocator>>,
}

/// A validated scenario ready to run.
#[derive(Clone, Debug)]
pub struct Model {
    pub name: String,
    pub currency: String,
    pub years: Vec<i32>,
    pub cap_t: Vec<f64>,
    pub firms: Vec<Firm>,
    pub sectors: Vec<Sector>,
    pub regions: Vec<String>,
    /// Firm-major: `baseline_t[firm * years + year]`, after all scales and growth.
    pub baseline_t: Vec<f64>,
    pub output: Vec<f64>,
    pub explicit_free_t: Vec<f64>,
    pub allocation: AllocationRule,
    pub reserve_price: Vec<f64>,
    pub unsold: UnsoldDestination,
    /// 0 where there is no floor.
    pub floor: Vec<f64>,
    /// +∞ where there is no ceiling.
    pub ceiling: Vec<f64>,
    /// Per year: (trigger price, volume) of each CCR tier.
    pub ccr: Vec<Vec<(f64, f64)>>,
    pub msr: Option<MsrSpec>,
    pub banking: BankingSpec,
    /// Per year: (price, usable volume) of offsets; volume 0 without offsets.
    pub offsets: Vec<(f64, f64)>,
    pub solver: SolverSpec,
}

impl Model {
    pub fn year_count(&self) -> usize {
        self.years.len()
    }

    /// Baseline of `firm` in year index `year`.
    #[inline]
    pub fn baseline(&self, firm: usize, year: usize) -> f64 {
        self.baseline_t[firm * self.years.len() + year]
    }

    /// Checks `file` (plus firms read from CSV) and builds the model.
    pub fn compile(file: &ScenarioFile, csv_firms: &[FirmSpec]) -> Result<Model> {
        Model::compile_with(file, csv_firms, None)
    }

    /// Like [`Model::compile`], with the reallocation policy read from
    /// `allocation.reallocation.policy_file` (the caller reads files, not the model).
    pub fn compile_with(
        file: &ScenarioFile,
        csv_firms: &[FirmSpec],
        policy_file: Option<&optimizer::Policy>,
    ) -> Result<Model> {
        if file.schema_version != SCHEMA_VERSION {
            return Err(ScenarioError::invalid(
                "schema_version",
                format!(
                    "this engine reads version {SCHEMA_VERSION}, got {}",
                    file.schema_version
                ),
            ));
        }
        let years = compile_years(file)?;
        let cap_t = compile_cap(file, &years)?;
        let (sectors, sector_index) = compile_sectors(file, csv_firms)?;
        let firm_count = file.firms.len() + csv_firms.len();
        if firm_count == 0 {
            return Err(ScenarioError::invalid(
                "firms",
                "at least one firm is required",
            ));
        }
        if firm_count > FIRMS_MAX {
            return Err(ScenarioError::invalid(
                "firms",
                format!("{firm_count} firms, at most {FIRMS_MAX}"),
            ));
        }
        check_positive("adjust.baseline_scale", file.adjust.baseline_scale)?;
        check_positive("adjust.mac_scale", file.adjust.mac_scale)?;
        if file.adjust.baseline_growth.is_nan() || file.adjust.baseline_growth <= -1.0 {
            return Err(ScenarioError::invalid(
                "adjust.baseline_growth",
                "must be > -1",
            ));
        }
        let allocation = compile_allocation(file, &years)?;
        let mut model = Model {
            name: file.name.clone(),
            currency: file.currency.clone(),
            cap_t,
            firms: Vec::with_capacity(firm_count),
            sectors,
            regions: Vec::new(),
            baseline_t: Vec::with_capacity(firm_count * years.len()),
            output: Vec::with_capacity(firm_count * years.len()),
            explicit_free_t: Vec::with_capacity(firm_count * years.len()),
            allocation,
            reserve_price: escalate(
                "auction",
                file.auction.reserve_price,
                file.auction.escalation_rate,
                file.auction.anchor_year,
                &years,
            )?,
            unsold: file.auction.unsold,
            floor: Vec::new(),
            ceiling: Vec::new(),
            ccr: vec![Vec::new(); years.len()],
            msr: file.msr.clone(),
            banking: file.banking.clone(),
            offsets: vec![(0.0, 0.0); years.len()],
            solver: file.solver.clone(),
            years,
        };
        let mut region_index: HashMap<String, usize> = HashMap::new();
        let mut seen_ids: HashMap<&str, ()> = HashMap::new();
        for firm in file.firms.iter().chain(csv_firms) {
            if seen_ids.insert(firm.id.as_str(), ()).is_some() {
                return Err(ScenarioError::invalid(
                    format!("firms.{}", firm.id),
                    "duplicate firm id",
                ));
            }
            model.add_firm(file, firm, &sector_index, &mut region_index)?;
        }
        model.compile_controls(file)?;
        model.check_allocation_inputs()?;
        model.allocation.optimizer = compile_optimizer(file, csv_firms, policy_file)?;
        check_uncertainty(file)?;
        Ok(model)
    }

    fn add_firm(
        &mut self,
        file: &ScenarioFile,
        firm: &FirmSpec,
        sector_index: &HashMap<String, usize>,
        region_index: &mut HashMap<String, usize>,
    ) -> Result<()> {
        let key = format!("firms.{}", firm.id);
        let sector = *sector_index.get(&firm.sector).ok_or_else(|| {
            ScenarioError::invalid(
                format!("{key}.sector"),
                format!("unknown sector `{}`", firm.sector),
            )
        })?;
        let next_region = region_index.len();
        let region = *region_index.entry(firm.region.clone()).or_insert_with(|| {
            self.regions.push(firm.region.clone());
            next_region
        });
        let sector_spec = file.sectors.iter().find(|s| s.name == firm.sector);
        let baseline_scale =
            file.adjust.baseline_scale * sector_spec.map_or(1.0, |s| s.baseline_scale);
        let mac_scale = file.adjust.mac_scale * sector_spec.map_or(1.0, |s| s.mac_scale);
        let baseline = resolve_series(&format!("{key}.baseline_t"), &firm.baseline_t, &self.years)?;
        for (year_index, value) in baseline.iter().enumerate() {
            check_non_negative(&format!("{key}.baseline_t"), *value)?;
            let growth = (1.0 + file.adjust.baseline_growth).powi(year_index as i32);
            self.baseline_t.push(value * baseline_scale * growth);
        }
        let output = match &firm.output {
            Some(series) => resolve_series(&format!("{key}.output"), series, &self.years)?,
            None => vec![0.0; self.years.len()],
        };
        self.output.extend(output);
        let free = match &firm.free_t {
            Some(series) => resolve_series(&format!("{key}.free_t"), series, &self.years)?,
            None => vec![0.0; self.years.len()],
        };
        for value in &free {
            check_non_negative(&format!("{key}.free_t"), *value)?;
        }
        self.explicit_free_t.extend(free);
        self.firms.push(Firm {
            id: firm.id.clone(),
            sector,
            region,
            curve: compile_curve(&format!("{key}.mac"), &firm.mac)?,
            mac_scale,
        });
        Ok(())
    }

    fn compile_controls(&mut self, file: &ScenarioFile) -> Result<()> {
        let controls = &file.price_controls;
        let floor = controls.floor.unwrap_or(0.0);
        check_non_negative("price_controls.floor", floor)?;
        self.floor = escalate(
            "price_controls",
            floor,
            controls.escalation_rate,
            controls.anchor_year,
            &self.years,
        )?;
        self.ceiling = match controls.ceiling {
            Some(ceiling) => {
                check_positive("price_controls.ceiling", ceiling)?;
                if ceiling < floor {
                    return Err(ScenarioError::invalid(
                        "price_controls.ceiling",
                        "must be at least the floor",
                    ));
                }
                escalate(
                    "price_controls",
                    ceiling,
                    controls.escalation_rate,
                    controls.anchor_year,
                    &self.years,
                )?
            }
            None => vec![f64::INFINITY; self.years.len()],
        };
        for (index, tier) in file.ccr.iter().enumerate() {
            let key = format!("ccr[{index}]");
            check_non_negative(&format!("{key}.trigger_price"), tier.trigger_price)?;
            check_non_negative(&format!("{key}.volume_t"), tier.volume_t)?;
            let prices = escalate(
                &key,
                tier.trigger_price,
                tier.escalation_rate,
                tier.anchor_year,
                &self.years,
            )?;
            for (year, price) in prices.into_iter().enumerate() {
                self.ccr[year].push((price, tier.volume_t));
            }
        }
        if let Some(msr) = &file.msr {
            check_non_negative("msr.upper_threshold_t", msr.upper_threshold_t)?;
            check_non_negative("msr.lower_threshold_t", msr.lower_threshold_t)?;
            check_non_negative("msr.release_t", msr.release_t)?;
            check_non_negative("msr.initial_t", msr.initial_t)?;
            check_share("msr.intake_rate", msr.intake_rate)?;
            if msr.lower_threshold_t > msr.upper_threshold_t {
                return Err(ScenarioError::invalid(
                    "msr.lower_threshold_t",
                    "must not exceed msr.upper_threshold_t",
                ));
            }
            if let Some(threshold) = msr.invalidation_threshold_t {
                check_non_negative("msr.invalidation_threshold_t", threshold)?;
            }
        }
        let banking = &file.banking;
        check_non_negative("banking.borrowing_limit_t", banking.borrowing_limit_t)?;
        check_non_negative("banking.initial_bank_t", banking.initial_bank_t)?;
        if !(0.0..1.0).contains(&banking.discount_rate) {
            return Err(ScenarioError::invalid(
                "banking.discount_rate",
                "must be in [0, 1)",
            ));
        }
        if !banking.enabled && (banking.borrowing_limit_t > 0.0 || banking.borrowing_unlimited) {
            return Err(ScenarioError::invalid(
                "banking.enabled",
                "borrowing needs banking enabled",
            ));
        }
        if let Some(offsets) = &file.offsets {
            check_share("offsets.limit_share", offsets.limit_share)?;
            check_non_negative("offsets.price", offsets.price)?;
            if let Some(supply) = offsets.supply_t {
                check_non_negative("offsets.supply_t", supply)?;
            }
            for (year, cap) in self.cap_t.iter().enumerate() {
                let volume =
                    (offsets.limit_share * cap).min(offsets.supply_t.unwrap_or(f64::INFINITY));
                self.offsets[year] = (offsets.price, volume);
            }
        }
        check_positive("solver.price_max", self.solver.price_max)?;
        if self.solver.msr_iterations_max == 0 {
            return Err(ScenarioError::invalid(
                "solver.msr_iterations_max",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    fn check_allocation_inputs(&self) -> Result<()> {
        let years = self.years.len();
        match self.allocation.method {
            AllocationMethod::Benchmark => {
                for (index, firm) in self.firms.iter().enumerate() {
                    if self.sectors[firm.sector].benchmark_t_per_unit.is_none() {
                        return Err(ScenarioError::invalid(
                            format!(
                                "sectors.{}.benchmark_t_per_unit",
                                self.sectors[firm.sector].name
                            ),
                            format!("benchmark allocation needs it (firm `{}`)", firm.id),
                        ));
                    }
                    if self.output[index * years..(index + 1) * years]
                        .iter()
                        .any(|v| *v < 0.0)
                    {
                        return Err(ScenarioError::invalid(
                            format!("firms.{}.output", firm.id),
                            "must be >= 0",
                        ));
                    }
                }
            }
            AllocationMethod::Explicit => {
                for year in 0..years {
                    let total: f64 = (0..self.firms.len())
                        .map(|f| self.explicit_free_t[f * years + year])
                        .sum();
                    if total > self.cap_t[year] * (1.0 + 1e-12) {
                        return Err(ScenarioError::invalid(
                            "firms.*.free_t",
                            format!(
                                "free allocation {total} exceeds the cap {} in {}",
                                self.cap_t[year], self.years[year]
                            ),
                        ));
                    }
                }
            }
            AllocationMethod::Grandfathering => {}
        }
        Ok(())
    }
}

fn compile_years(file: &ScenarioFile) -> Result<Vec<i32>> {
    let YearsSpec { start, end } = file.years.clone();
    if end < start {
        return Err(ScenarioError::invalid(
            "years.end",
            format!("{end} is before years.start {start}"),
        ));
    }
    let count = (end as i64 - start as i64 + 1) as usize;
    if count > YEARS_MAX {
        return Err(ScenarioError::invalid(
            "years",
            format!("{count} years, at most {YEARS_MAX}"),
        ));
    }
    Ok((start..=end).collect())
}

use crate::spec::YearsSpec;

fn compile_cap(file: &ScenarioFile, years: &[i32]) -> Result<Vec<f64>> {
    let cap = &file.cap;
    let cap_t = match (&cap.by_year, cap.base_t, cap.linear_reduction_factor) {
        (Some(series), None, None) => resolve_series("cap.by_year", series, years)?,
        (None, Some(base_t), lrf) => {
            check_non_negative("cap.base_t", base_t)?;
            let lrf = lrf.unwrap_or(0.0);
            check_share("cap.linear_reduction_factor", lrf)?;
            let base_year = cap.base_year.unwrap_or(years[0]);
            years
                .iter()
                .map(|&year| (base_t * (1.0 - lrf * f64::from(year - base_year))).max(0.0))
                .collect()
        }
        (Some(_), _, _) => {
            return Err(ScenarioError::invalid(
                "cap",
                "give either `by_year` or `base_t` (+ `linear_reduction_factor`), not both",
            ));
        }
        (None, None, _) => {
            return Err(ScenarioError::invalid("cap", "needs `by_year` or `base_t`"));
        }
    };
    for value in &cap_t {
        check_non_negative("cap", *value)?;
    }
    Ok(cap_t)
}

fn compile_sectors(
    file: &ScenarioFile,
    csv_firms: &[FirmSpec],
) -> Result<(Vec<Sector>, HashMap<String, usize>)> {
    let mut sectors = Vec::new();
    let mut index = HashMap::new();
    for spec in &file.sectors {
        let key = format!("sectors.{}", spec.name);
        if index.insert(spec.name.clone(), sectors.len()).is_some() {
            return Err(ScenarioError::invalid(key, "duplicate sector name"));
        }
        check_positive(&format!("{key}.baseline_scale"), spec.baseline_scale)?;
        check_positive(&format!("{key}.mac_scale"), spec.mac_scale)?;
        if let Some(benchmark) = spec.benchmark_t_per_unit {
            check_non_negative(&format!("{key}.benchmark_t_per_unit"), benchmark)?;
        }
        // Under the optimizer rule the policy assigns tiers (by tags) and `tier` is unused.
        if let (Some(tier), Some(realloc)) = (&spec.tier, &file.allocation.reallocation)
            && realloc.rule == ReallocationRuleKind::Tiered
            && !realloc.tiers.contains(tier)
        {
            return Err(ScenarioError::invalid(
                format!("{key}.tier"),
                format!("tier `{tier}` is not listed in allocation.reallocation.tiers"),
            ));
        }
        sectors.push(Sector {
            name: spec.name.clone(),
            tier: spec.tier.clone(),
            benchmark_t_per_unit: spec.benchmark_t_per_unit,
        });
    }
    // Without a [[sectors]] list, sectors are the firms' tags; with one, tags must match it.
    if file.sectors.is_empty() {
        for firm in file.firms.iter().chain(csv_firms) {
            if !index.contains_key(&firm.sector) {
                index.insert(firm.sector.clone(), sectors.len());
                sectors.push(Sector {
                    name: firm.sector.clone(),
                    tier: None,
                    benchmark_t_per_unit: None,
                });
            }
        }
    }
    Ok((sectors, index))
}

fn compile_allocation(file: &ScenarioFile, years: &[i32]) -> Result<AllocationRule> {
    let spec = &file.allocation;
    check_share("allocation.auction_share", spec.auction_share)?;
    let base_year = spec.base_year.unwrap_or(years[0]);
    let base_year_index = years.iter().position(|&y| y == base_year).ok_or_else(|| {
        ScenarioError::invalid(
            "allocation.base_year",
            format!("{base_year} is not a model year"),
        )
    })?;
    if let Some(realloc) = &spec.reallocation {
        check_rule_keys(realloc)?;
        let mut seen = realloc.tiers.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != realloc.tiers.len() {
            return Err(ScenarioError::invalid(
                "allocation.reallocation.tiers",
                "tiers must be distinct",
            ));
        }
        check_share(
            "allocation.reallocation.recipient_cap_share",
            realloc.recipient_cap_share,
        )?;
    }
    Ok(AllocationRule {
        method: spec.method,
        auction_share: spec.auction_share,
        base_year_index,
        reallocation: spec.reallocation.clone(),
        optimizer: None,
    })
}

/// Each rule's own keys: `tiers` for `tiered`; one policy (inline or file) for `optimizer`.
fn check_rule_keys(realloc: &ReallocationSpec) -> Result<()> {
    let key = |name: &str| format!("allocation.reallocation.{name}");
    match realloc.rule {
        ReallocationRuleKind::Tiered => {
            if realloc.tiers.is_empty() {
                return Err(ScenarioError::invalid(
                    key("tiers"),
                    "must list at least one tier",
                ));
            }
            if realloc.policy.is_some() || realloc.policy_file.is_some() {
                let name = if realloc.policy.is_some() {
                    "policy"
                } else {
                    "policy_file"
                };
                return Err(ScenarioError::invalid(
                    key(name),
                    "a policy is only used with rule = \"optimizer\"",
                ));
            }
        }
        ReallocationRuleKind::Optimizer => {
            if !realloc.tiers.is_empty() {
                return Err(ScenarioError::invalid(
                    key("tiers"),
                    "the optimizer's policy assigns tiers by tags; tiers belong to rule = \"tiered\"",
                ));
            }
            match (&realloc.policy, &realloc.policy_file) {
                (Some(_), Some(_)) => {
                    return Err(ScenarioError::invalid(
                        key("policy_file"),
                        "give either `policy` or `policy_file`, not both",
                    ));
                }
                (None, None) => {
                    return Err(ScenarioError::invalid(
                        key("policy"),
                        "rule = \"optimizer\" needs `policy` (inline) or `policy_file`",
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The optimizer adapter, when the file asks for it; validated against every firm.
fn compile_optimizer(
    file: &ScenarioFile,
    csv_firms: &[FirmSpec],
    policy_file: Option<&optimizer::Policy>,
) -> Result<Option<Arc<OptimizerReallocator>>> {
    let Some(realloc) = &file.allocation.reallocation else {
        return Ok(None);
    };
    if realloc.rule != ReallocationRuleKind::Optimizer {
        return Ok(None);
    }
    let (policy, policy_key) = match (&realloc.policy, policy_file) {
        (Some(policy), _) => (policy.clone(), "allocation.reallocation.policy"),
        (None, Some(policy)) => (policy.clone(), "allocation.reallocation.policy_file"),
        (None, None) => {
            return Err(ScenarioError::invalid(
                "allocation.reallocation.policy_file",
                "the policy file was not read (scenarios given as text cannot reference files)",
            ));
        }
    };
    let firms: Vec<_> = file
        .firms
        .iter()
        .chain(csv_firms)
        .map(|firm| (firm, file.sectors.iter().find(|s| s.name == firm.sector)))
        .collect();
    OptimizerReallocator::new(realloc, policy, policy_key, &firms).map(|a| Some(Arc::new(a)))
}

fn compile_curve(key: &str, spec: &MacSpec) -> Result<Curve> {
    let finite = |name: &str, value: f64| -> Result<()> {
        if value.is_finite() {
            Ok(())
        } else {
            Err(ScenarioError::invalid(
                format!("{key}.{name}"),
                "must be a finite number",
            ))
        }
    };
    match spec {
        MacSpec::Linear {
            intercept,
            slope,
            max_abatement_t,
        } => {
            finite("intercept", *intercept)?;
            check_non_negative(&format!("{key}.slope"), *slope)?;
            let max_t = max_abatement_t.unwrap_or(f64::INFINITY);
            if max_t < 0.0 || max_t.is_nan() {
                return Err(ScenarioError::invalid(
                    format!("{key}.max_abatement_t"),
                    "must be >= 0",
                ));
            }
            // Without an explicit maximum the baseline is the limit (clipped per year).
            Ok(Curve::Linear {
                intercept: *intercept,
                slope: *slope,
                max_t,
            })
        }
        MacSpec::Piecewise { points } => {
            if points.len() < 2 || points.len() > CURVE_PIECES_MAX {
                return Err(ScenarioError::invalid(
                    format!("{key}.points"),
                    format!("needs 2 to {CURVE_PIECES_MAX} points"),
                ));
            }
            if points[0][0] != 0.0 {
                return Err(ScenarioError::invalid(
                    format!("{key}.points"),
                    "the first point must have abatement 0",
                ));
            }
            for (index, pair) in points.windows(2).enumerate() {
                finite("points", pair[1][0])?;
                finite("points", pair[1][1])?;
                if pair[1][0] <= pair[0][0] {
                    return Err(ScenarioError::invalid(
                        format!("{key}.points[{}]", index + 1),
                        "abatement must increase strictly",
                    ));
                }
                if pair[1][1] < pair[0][1] {
                    return Err(ScenarioError::invalid(
                        format!("{key}.points[{}]", index + 1),
                        "marginal cost must not decrease (a MAC curve is non-decreasing)",
                    ));
                }
            }
            Ok(Curve::Piecewise {
                points: points.iter().map(|p| (p[0], p[1])).collect(),
            })
        }
        MacSpec::Steps { steps, quantity } => {
            if steps.is_empty() || steps.len() > CURVE_PIECES_MAX {
                return Err(ScenarioError::invalid(
                    format!("{key}.steps"),
                    format!("needs 1 to {CURVE_PIECES_MAX} steps"),
                ));
            }
            for (index, step) in steps.iter().enumerate() {
                check_non_negative(&format!("{key}.steps[{index}] quantity"), step[0])?;
                finite("steps", step[1])?;
            }
            let share = *quantity == StepQuantity::Share;
            if share && steps.iter().map(|s| s[0]).sum::<f64>() > 1.0 + 1e-9 {
                return Err(ScenarioError::invalid(
                    format!("{key}.steps"),
                    "step shares add up to more than 1 (the whole baseline)",
                ));
            }
            let mut sorted: Vec<(f64, f64)> = steps.iter().map(|s| (s[0], s[1])).collect();
            // Steps fill in order of cost: a MAC curve is the cheapest-first ordering.
            sorted.sort_by(|a, b| a.1.total_cmp(&b.1));
            Ok(Curve::Steps {
                steps: sorted,
                share,
            })
        }
    }
}

fn check_uncertainty(file: &ScenarioFile) -> Result<()> {
    let Some(uncertainty) = &file.uncertainty else {
        return Ok(());
    };
    if uncertainty.draws == 0 || uncertainty.draws > DRAWS_MAX {
        return Err(ScenarioError::invalid(
            "uncertainty.draws",
            format!("must be in 1..={DRAWS_MAX}"),
        ));
    }
    for (index, parameter) in uncertainty.parameters.iter().enumerate() {
        let key = format!("uncertainty.parameters[{index}]");
        let need = |name: &str, value: Option<f64>| {
            value.ok_or_else(|| {
                ScenarioError::invalid(
                    format!("{key}.{name}"),
                    format!("required for a {:?} distribution", parameter.distribution),
                )
            })
        };
        match parameter.distribution {
            Distribution::Normal | Distribution::Lognormal => {
                need("mean", parameter.mean)?;
                check_non_negative(&format!("{key}.sd"), need("sd", parameter.sd)?)?;
                if parameter.distribution == Distribution::Lognormal {
                    check_positive(&format!("{key}.mean"), need("mean", parameter.mean)?)?;
                }
            }
            Distribution::Uniform => {
                if need("min", parameter.min)? > need("max", parameter.max)? {
                    return Err(ScenarioError::invalid(
                        format!("{key}.min"),
                        "must not exceed max",
                    ));
                }
            }
            Distribution::Triangular => {
                let (min, mode, max) = (
                    need("min", parameter.min)?,
                    need("mode", parameter.mode)?,
                    need("max", parameter.max)?,
                );
                if !(min <= mode && mode <= max && min < max) {
                    return Err(ScenarioError::invalid(
                        format!("{key}.mode"),
                        "needs min <= mode <= max and min < max",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// One value per model year from a constant or a year table (carried forward and back).
pub fn resolve_series(key: &str, series: &Series, years: &[i32]) -> Result<Vec<f64>> {
    match series {
        Series::Constant(value) => {
            if !value.is_finite() {
                return Err(ScenarioError::invalid(key, "must be a finite number"));
            }
            Ok(vec![*value; years.len()])
        }
        Series::ByYear(table) => {
            let mut parsed = BTreeMap::new();
            for (year, value) in table {
                let year_number: i32 = year.trim().parse().map_err(|_| {
                    ScenarioError::invalid(format!("{key}.{year}"), "keys must be years")
                })?;
                if !value.is_finite() {
                    return Err(ScenarioError::invalid(
                        format!("{key}.{year}"),
                        "must be a finite number",
                    ));
                }
                parsed.insert(year_number, *value);
            }
            let Some((_, first)) = parsed.iter().next() else {
                return Err(ScenarioError::invalid(key, "the year table is empty"));
            };
            let first = *first;
            Ok(years
                .iter()
                .map(|year| {
                    parsed
                        .range(..=*year)
                        .next_back()
                        .map_or(first, |(_, v)| *v)
                })
                .collect())
        }
    }
}

fn escalate(
    key: &str,
    value: f64,
    rate: f64,
    anchor_year: Option<i32>,
    years: &[i32],
) -> Result<Vec<f64>> {
    check_non_negative(key, value)?;
    if !rate.is_finite() || rate <= -1.0 {
        return Err(ScenarioError::invalid(
            format!("{key}.escalation_rate"),
            "must be > -1",
        ));
    }
    // Escalation counts from the anchor year (default: the first model year), so a
    // policy quoted in its own base year lands on the right year (E4ST #365).
    let anchor = anchor_year.unwrap_or(years[0]);
    Ok(years
        .iter()
        .map(|&y| value * (1.0 + rate).powi(y - anchor))
        .collect())
}

fn check_non_negative(key: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(ScenarioError::invalid(
            key,
            format!("must be a finite number >= 0, got {value}"),
        ))
    }
}

fn check_positive(key: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ScenarioError::invalid(
            key,
            format!("must be a finite number > 0, got {value}"),
        ))
    }
}

fn check_share(key: &str, value: f64) -> Result<()> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(ScenarioError::invalid(
            key,
            format!("must be in [0, 1], got {value}"),
        ))
    }
}
