//! Eligibility gates, tiering and replacement ratios: each rule applied with its citation.

use super::{COEF_ONE, RATIO_MAX, coef};
use crate::allocation::RuleHit;
use crate::model::{Application, CreditGrade, Round, ZoneType};
use crate::policy::{Area, TIER_MAX};

pub(super) fn hit(rule: &str, citation: &str) -> RuleHit {
    RuleHit {
        rule: rule.to_owned(),
        citation: citation.to_owned(),
    }
}

/// Hard gates, in a fixed order so the exclusion list is stable.
pub(super) fn exclusions(round: &Round, a: &Application) -> Vec<RuleHit> {
    let e = &round.policy.eligibility;
    let has = |tag: &str| a.tags.iter().any(|t| t == tag);
    let mut out = Vec::new();
    if let Some(r) = &e.priority_protection
        && a.location.zone == ZoneType::PriorityProtection
    {
        out.push(hit("priority_protection", &r.citation));
    }
    let near = |min: u32| a.location.river_distance_m.is_some_and(|d| d < min);
    if let Some(r) = &e.river_distance
        && near(r.distance_m_min)
        && r.industries.iter().any(|i| has(i))
    {
        out.push(hit("river_distance", &r.citation));
    }
    if let Some(r) = &e.new_park_distance
        && near(r.distance_m_min)
        && has(&r.tag)
    {
        out.push(hit("new_park_distance", &r.citation));
    }
    for list in &e.negative_lists {
        if list.tags.iter().any(|t| has(t)) {
            out.push(hit(&format!("negative_list:{}", list.id), &list.citation));
        }
    }
    if let Some(r) = &e.credit_poor
        && a.credit == CreditGrade::Poor
    {
        out.push(hit("credit_poor", &r.citation));
    }
    if let Some(r) = &e.approval_freeze
        && r.districts.contains(&a.location.district)
    {
        out.push(hit("approval_freeze", &r.citation));
    }
    out
}

pub(super) fn tier_of(round: &Round, a: &Application, notes: &mut Vec<RuleHit>) -> u8 {
    let policy = &round.policy;
    let base = policy
        .tiers
        .iter()
        .find(|r| r.any_tags.iter().any(|t| a.tags.contains(t)))
        .map_or(policy.default_tier, |r| r.tier);
    match &policy.eligibility.credit_warning_demotion {
        Some(r) if a.credit == CreditGrade::Warning => {
            notes.push(hit("credit_warning_demotion", &r.citation));
            (base + 1).min(TIER_MAX)
        }
        _ => base,
    }
}

pub(super) fn ratio(round: &Round, a: &Application, pollutant: &str) -> i128 {
    round
        .policy
        .replacement_ratios
        .iter()
        .filter(|r| r.pollutant.as_deref().is_none_or(|p| p == pollutant))
        .filter(|r| match &r.scope {
            None => true,
            Some(Area::District(d)) => *d == a.location.district,
            Some(Area::Basin(b)) => *b == a.location.basin,
            Some(Area::Airshed(s)) => *s == a.location.airshed,
        })
        .filter_map(|r| coef(r.ratio))
        .fold(COEF_ONE, i128::max)
        .min(RATIO_MAX)
}
