//! Plots as SVG and PNG (plotters): price path with Monte Carlo bands, the aggregate MAC
//! curve with the clearing price, allocation by sector, emissions and bank by year.
//!
//! Each chart is drawn once by a function generic over the backend and rendered to both
//! formats. PNG text uses plotters' default font stack (fontconfig + a system font).

use crate::error::{Result, ScenarioError};
use crate::market::YearMarket;
use crate::mc::McResult;
use crate::model::Model;
use crate::results::RunResult;
use crate::sweep::{SweepAxis, SweepRun};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

const SIZE: (u32, u32) = (900, 560);
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn plot_error(what: &str, error: impl std::fmt::Display) -> ScenarioError {
    ScenarioError::Output {
        what: format!("plot {what}"),
        reason: error.to_string(),
    }
}

type Area<'a, DB> = DrawingArea<DB, Shift>;
type DrawResult = std::result::Result<(), String>;

fn range_of(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (low, high) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if !low.is_finite() {
        return (0.0, 1.0);
    }
    let low = low.min(0.0);
    let high = if high <= low {
        low + 1.0
    } else {
        high + 0.05 * (high - low)
    };
    (low, high)
}

fn years_range(years: &[i32]) -> std::ops::Range<f64> {
    let first = f64::from(*years.first().unwrap_or(&0));
    let last = f64::from(*years.last().unwrap_or(&0));
    (first - 0.5)..(last + 0.5)
}

/// A year axis label: whole years only, so a short range never repeats a year.
fn year_label(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-6 {
        format!("{x:.0}")
    } else {
        String::new()
    }
}

/// Key points on a year axis: one per year up to twelve.
fn year_ticks(years: &[i32]) -> usize {
    years.len().clamp(2, 12)
}

/// Renders one chart to `<stem>.svg` and `<stem>.png`; the two closures call the same
/// generic drawing function (a closure cannot be generic over the backend).
fn render_both(
    dir: &Path,
    stem: &str,
    svg_draw: impl Fn(&Area<'_, SVGBackend>) -> DrawResult,
    png_draw: impl Fn(&Area<'_, BitMapBackend>) -> DrawResult,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| plot_error(stem, e))?;
    let svg = dir.join(format!("{stem}.svg"));
    let png = dir.join(format!("{stem}.png"));
    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(stem, e))?;
        svg_draw(&root).map_err(|e| plot_error(stem, e))?;
        root.present().map_err(|e| plot_error(stem, e))?;
    }
    {
        let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(stem, e))?;
        png_draw(&root).map_err(|e| plot_error(stem, e))?;
        root.present().map_err(|e| plot_error(stem, e))?;
    }
    Ok(vec![svg, png])
}

type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn legend_style<'a, DB: DrawingBackend + 'a>(chart: &mut Chart2d<'a, DB>) -> DrawResult {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| e.to_string())
}

/// Data of the price chart.
struct PriceChart<'a> {
    title: String,
    unit: String,
    years: &'a [i32],
    /// Legend of `prices`.
    label: String,
    prices: Vec<f64>,
    bands: Option<(&'a [f64], &'a [f64], &'a [f64])>,
    /// Another run's price path (a compare's baseline), label and prices by year.
    other: Option<(String, Vec<f64>)>,
    /// The step-curve price interval by year (low, high): drawn as a band where it is open.
    interval: Option<(Vec<f64>, Vec<f64>)>,
    /// Policy price lines by year (floor, ceiling, reserve price, CCR trigger), NaN where absent.
    controls: Vec<(&'static str, Vec<f64>)>,
}

/// The policy price lines of a run: floor, ceiling, auction reserve price and the first CCR
/// trigger, each only when it binds somewhere (a zero floor or an infinite ceiling is no line).
fn price_controls(model: &Model) -> Vec<(&'static str, Vec<f64>)> {
    let years = model.years.len();
    let by_year = |values: &[f64], keep: fn(f64) -> bool| -> Vec<f64> {
        (0..years)
            .map(|t| {
                values
                    .get(t)
                    .copied()
                    .filter(|v| keep(*v))
                    .unwrap_or(f64::NAN)
            })
            .collect()
    };
    let positive = |v: f64| v.is_finite() && v > 0.0;
    let triggers: Vec<f64> = model
        .ccr
        .iter()
        .map(|tiers| tiers.first().map_or(f64::NAN, |t| t.0))
        .collect();
    let lines = [
        ("price floor", by_year(&model.floor, positive)),
        ("price ceiling", by_year(&model.ceiling, positive)),
        (
            "auction reserve price",
            by_year(&model.reserve_price, positive),
        ),
        ("CCR trigger price", by_year(&triggers, positive)),
    ];
    lines
        .into_iter()
        .filter(|(_, v)| v.iter().any(|x| x.is_finite()))
        .collect()
}

/// The price interval of a run when some year has one (step curves), else None.
fn price_interval(result: &RunResult) -> Option<(Vec<f64>, Vec<f64>)> {
    let open = result
        .market
        .iter()
        .any(|y| y.price_high - y.price_low > 1e-9 * y.price_high.abs().max(1.0));
    open.then(|| {
        (
            result.market.iter().map(|y| y.price_low).collect(),
            result.market.iter().map(|y| y.price_high).collect(),
        )
    })
}

/// A chart over years (one label per year, none repeated) with its caption and value axis:
/// `(title, y_desc, y label area)`.
fn year_chart<'a, DB: DrawingBackend>(
    root: &'a Area<'_, DB>,
    (title, y_desc, y_area): (&str, &str, u32),
    years: &[i32],
    (low, high): (f64, f64),
) -> std::result::Result<Chart2d<'a, DB>, String> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(y_area)
        .build_cartesian_2d(years_range(years), low..high)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_labels(year_ticks(years))
        .x_label_formatter(&year_label)
        .x_desc("year")
        .y_desc(y_desc)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

fn draw_price<DB: DrawingBackend>(root: &Area<'_, DB>, data: &PriceChart<'_>) -> DrawResult {
    let upper = data.bands.map(|b| b.2.to_vec()).unwrap_or_default();
    let other = data.other.as_ref().map(|o| o.1.as_slice());
    let interval_high = data.interval.as_ref().map(|i| i.1.as_slice());
    let controls = data.controls.iter().flat_map(|c| c.1.iter());
    let (low, high) = range_of(
        (data.prices.iter().chain(&upper))
            .chain(other.unwrap_or_default())
            .chain(interval_high.unwrap_or_default())
            .chain(controls)
            .copied(),
    );
    let frame = (data.title.as_str(), data.unit.as_str(), 70);
    let mut chart = year_chart(root, frame, data.years, (low, high))?;
    if let Some((low, high)) = &data.interval {
        band(
            &mut chart,
            data.years,
            (low, high),
            PALETTE[3].mix(0.18),
            "price interval (step curves)",
        )?;
    }
    if let Some((p5, p50, p95)) = data.bands {
        band(
            &mut chart,
            data.years,
            (p5, p95),
            PALETTE[0].mix(0.25),
            "Monte Carlo p5-p95",
        )?;
        path(
            &mut chart,
            data.years,
            p50,
            PALETTE[0].stroke_width(2),
            "Monte Carlo median",
        )?;
    }
    for (index, (label, values)) in data.controls.iter().enumerate() {
        let color = PALETTE[[2, 4, 1, 5][index % 4]];
        dashed(&mut chart, data.years, values, color, label)?;
    }
    if let Some((label, prices)) = &data.other {
        path(
            &mut chart,
            data.years,
            prices,
            PALETTE[7].stroke_width(2),
            label,
        )?;
    }
    path(
        &mut chart,
        data.years,
        &data.prices,
        PALETTE[3].stroke_width(3),
        &data.label,
    )?;
    legend_style(&mut chart)
}

fn points<'a>(years: &'a [i32], values: &'a [f64]) -> impl Iterator<Item = (f64, f64)> + 'a {
    (years.iter().map(|y| f64::from(*y)))
        .zip(values.iter().copied())
        .filter(|(_, v)| v.is_finite())
}

/// A line with a marker on every year, so a one-year run shows its point.
fn path<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    years: &[i32],
    values: &[f64],
    style: ShapeStyle,
    label: &str,
) -> DrawResult {
    chart
        .draw_series(points(years, values).map(|p| Circle::new(p, 4, style.filled())))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(points(years, values), style))
        .map_err(|e| e.to_string())?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    Ok(())
}

/// A dashed reference line (a price control), stretched over a one-year run's whole frame.
fn dashed<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    years: &[i32],
    values: &[f64],
    color: RGBColor,
    label: &str,
) -> DrawResult {
    let mut line: Vec<(f64, f64)> = points(years, values).collect();
    if let [(x, y)] = line[..] {
        line = vec![(x - 0.45, y), (x + 0.45, y)];
    }
    let style = color.stroke_width(2);
    chart
        .draw_series(DashedLineSeries::new(line, 8, 5, style))
        .map_err(|e| e.to_string())?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    Ok(())
}

/// A filled band between two series by year (a one-year band is a bar).
fn band<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    years: &[i32],
    (low, high): (&[f64], &[f64]),
    color: RGBAColor,
    label: &str,
) -> DrawResult {
    let mut polygon: Vec<(f64, f64)> = points(years, high).collect();
    polygon.extend(points(years, low).collect::<Vec<_>>().into_iter().rev());
    if let [(x, h), (_, l)] = polygon[..] {
        polygon = vec![(x - 0.2, h), (x + 0.2, h), (x + 0.2, l), (x - 0.2, l)];
    }
    chart
        .draw_series(std::iter::once(Polygon::new(polygon, color)))
        .map_err(|e| e.to_string())?
        .label(label)
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], color.filled()));
    Ok(())
}

/// Price path with the policy's price lines (floor, ceiling, reserve price, CCR trigger), the
/// step-curve price interval as a band, and the Monte Carlo p5-p95 band and median if given.
pub fn price_path(
    dir: &Path,
    model: &Model,
    result: &RunResult,
    mc: Option<&McResult>,
) -> Result<Vec<PathBuf>> {
    let bands = mc
        .filter(|m| m.price_bands.p5.len() == result.years.len())
        .map(|m| {
            (
                m.price_bands.p5.as_slice(),
                m.price_bands.p50.as_slice(),
                m.price_bands.p95.as_slice(),
            )
        });
    let data = PriceChart {
        title: format!("Allowance price: {}", result.scenario),
        unit: format!("price ({}/t)", result.currency),
        years: &result.years,
        label: if bands.is_some() {
            "central run".to_string()
        } else {
            result.scenario.clone()
        },
        prices: result.prices(),
        bands,
        other: None,
        interval: price_interval(result),
        controls: price_controls(model),
    };
    render_both(
        dir,
        "price_path",
        |r| draw_price(r, &data),
        |r| draw_price(r, &data),
    )
}

/// A scenario's price path against a baseline's (`compare`): `price_comparison.svg|png`.
/// Baseline years missing from the scenario are left out.
pub fn price_comparison(
    dir: &Path,
    result: &RunResult,
    baseline: &RunResult,
) -> Result<Vec<PathBuf>> {
    let baseline_prices: Vec<f64> = result
        .years
        .iter()
        .map(|year| {
            baseline
                .market
                .iter()
                .find(|row| row.year == *year)
                .map_or(f64::NAN, |row| row.price)
        })
        .collect();
    let data = PriceChart {
        title: format!(
            "Allowance price: {} vs {}",
            result.scenario, baseline.scenario
        ),
        unit: format!("price ({}/t)", result.currency),
        years: &result.years,
        label: result.scenario.clone(),
        prices: result.prices(),
        bands: None,
        other: Some((format!("baseline: {}", baseline.scenario), baseline_prices)),
        interval: None,
        controls: Vec::new(),
    };
    render_both(
        dir,
        "price_comparison",
        |r| draw_price(r, &data),
        |r| draw_price(r, &data),
    )
}

struct CostCurveChart {
    title: String,
    unit: String,
    /// (abatement, price) points of the aggregate MAC.
    curve: Vec<(f64, f64)>,
    price: f64,
    abatement_t: f64,
}

fn draw_cost_curve<DB: DrawingBackend>(root: &Area<'_, DB>, data: &CostCurveChart) -> DrawResult {
    let (x_low, x_high) = range_of(data.curve.iter().map(|p| p.0));
    let (y_low, y_high) = range_of(data.curve.iter().map(|p| p.1).chain([data.price * 1.2]));
    let mut chart = ChartBuilder::on(root)
        .caption(&data.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x_low..x_high, y_low..y_high)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("abatement (t)")
        .y_desc(&data.unit)
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(
            data.curve.iter().copied(),
            PALETTE[0].stroke_width(2),
        ))
        .map_err(|e| e.to_string())?
        .label("aggregate marginal abatement cost")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], PALETTE[0].stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            [(x_low, data.price), (x_high, data.price)],
            PALETTE[3].stroke_width(2),
        ))
        .map_err(|e| e.to_string())?
        .label("clearing price")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], PALETTE[3].stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            [(data.abatement_t, y_low), (data.abatement_t, y_high)],
            PALETTE[2].stroke_width(1),
        ))
        .map_err(|e| e.to_string())?
        .label("equilibrium abatement")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], PALETTE[2].stroke_width(1)));
    legend_style(&mut chart)
}

/// The aggregate MAC curve of year index `year` with its clearing price.
pub fn cost_curve(
    dir: &Path,
    model: &Model,
    result: &RunResult,
    year: usize,
) -> Result<Vec<PathBuf>> {
    let Some(row) = result.market.get(year) else {
        return Ok(Vec::new());
    };
    let market = YearMarket::build(model, year, 0.0);
    let mut prices = market.curve.breakpoints();
    prices.retain(|p| *p >= 0.0 && p.is_finite());
    let top = prices
        .last()
        .copied()
        .unwrap_or(1.0)
        .max(row.price * 1.5)
        .max(1.0);
    prices.push(top);
    prices.insert(0, 0.0);
    // Each breakpoint contributes both one-sided limits, so steps draw as vertical risers.
    let curve: Vec<(f64, f64)> = prices
        .iter()
        .flat_map(|p| {
            [
                (market.curve.lower_t(*p), *p),
                (market.curve.upper_t(*p), *p),
            ]
        })
        .collect();
    let data = CostCurveChart {
        title: format!("Marginal abatement cost, {}", row.year),
        unit: format!("{}/t", result.currency),
        curve,
        price: row.price,
        abatement_t: row.abatement_t,
    };
    render_both(
        dir,
        &format!("cost_curve_{}", row.year),
        |r| draw_cost_curve(r, &data),
        |r| draw_cost_curve(r, &data),
    )
}

struct StackChart<'a> {
    title: String,
    y_desc: &'static str,
    years: &'a [i32],
    /// (label, value per year), stacked in order.
    layers: Vec<(String, Vec<f64>)>,
    /// Lines drawn over the bars.
    lines: Vec<(String, Vec<f64>)>,
}

fn draw_stack<DB: DrawingBackend>(root: &Area<'_, DB>, data: &StackChart<'_>) -> DrawResult {
    let totals: Vec<f64> = (0..data.years.len())
        .map(|t| data.layers.iter().map(|l| l.1[t].max(0.0)).sum())
        .collect();
    let (low, high) = range_of(
        totals
            .iter()
            .chain(data.lines.iter().flat_map(|l| l.1.iter()))
            .copied(),
    );
    let frame = (data.title.as_str(), data.y_desc, 80);
    let mut chart = year_chart(root, frame, data.years, (low, high))?;
    let mut base = vec![0.0; data.years.len()];
    for (index, (label, values)) in data.layers.iter().enumerate() {
        let color = PALETTE[index % PALETTE.len()];
        let bars: Vec<Rectangle<(f64, f64)>> = data
            .years
            .iter()
            .enumerate()
            .map(|(t, year)| {
                let x = f64::from(*year);
                let top = base[t] + values[t].max(0.0);
                Rectangle::new(
                    [(x - 0.35, base[t]), (x + 0.35, top)],
                    color.mix(0.8).filled(),
                )
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(|e| e.to_string())?
            .label(label.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], color.filled()));
        for (t, value) in values.iter().enumerate() {
            base[t] += value.max(0.0);
        }
    }
    for (index, (label, values)) in data.lines.iter().enumerate() {
        let color = PALETTE[(index + 3) % PALETTE.len()];
        let points = data
            .years
            .iter()
            .map(|y| f64::from(*y))
            .zip(values.iter().copied());
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(3)))
            .map_err(|e| e.to_string())?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
    }
    legend_style(&mut chart)
}

/// Free allocation by sector plus the auctioned volume, stacked by year.
pub fn allocation_by_sector(dir: &Path, result: &RunResult) -> Result<Vec<PathBuf>> {
    let mut layers: Vec<(String, Vec<f64>)> = result
        .sectors
        .iter()
        .map(|s| (format!("free: {}", s.name), s.free_t.clone()))
        .collect();
    layers.push((
        "auctioned".into(),
        result.market.iter().map(|y| y.auction_sold_t).collect(),
    ));
    let data = StackChart {
        title: format!("Allocation by sector: {}", result.scenario),
        y_desc: "allowances (t)",
        years: &result.years,
        layers,
        lines: vec![(
            "cap".into(),
            result.market.iter().map(|y| y.cap_t).collect(),
        )],
    };
    render_both(
        dir,
        "allocation_by_sector",
        |r| draw_stack(r, &data),
        |r| draw_stack(r, &data),
    )
}

/// Reallocated allowances by the priority tier each grant was served in, stacked by year, with
/// the freed capacity as a line; nothing is drawn for a run that reallocated nothing.
pub fn allocation_by_tier(dir: &Path, model: &Model, result: &RunResult) -> Result<Vec<PathBuf>> {
    let mut tiers: Vec<(String, Vec<f64>)> = Vec::new();
    for record in result.reallocation.iter().filter(|r| r.granted_t > 0.0) {
        let (Some(tier), Some(t)) = (
            &record.decision.tier,
            result.years.iter().position(|y| *y == record.year),
        ) else {
            continue;
        };
        let index = match tiers.iter().position(|(name, _)| name == tier) {
            Some(index) => index,
            None => {
                tiers.push((tier.clone(), vec![0.0; result.years.len()]));
                tiers.len() - 1
            }
        };
        tiers[index].1[t] += record.granted_t;
    }
    if tiers.is_empty() {
        return Ok(Vec::new());
    }
    let listed = model.allocation.reallocation.as_ref().map(|r| &r.tiers);
    let rank = |name: &str| {
        let position = listed.and_then(|l| l.iter().position(|t| t == name));
        (
            position.unwrap_or(usize::MAX),
            name.parse::<u32>().unwrap_or(u32::MAX),
            name.to_owned(),
        )
    };
    tiers.sort_by_cached_key(|(name, _)| rank(name));
    let data = StackChart {
        title: format!("Reallocation by priority tier: {}", result.scenario),
        y_desc: "reallocated (t)",
        years: &result.years,
        layers: tiers
            .into_iter()
            .map(|(name, v)| (format!("tier {name}"), v))
            .collect(),
        lines: vec![(
            "freed capacity".into(),
            result.market.iter().map(|y| y.freed_t).collect(),
        )],
    };
    render_both(
        dir,
        "allocation_by_tier",
        |r| draw_stack(r, &data),
        |r| draw_stack(r, &data),
    )
}

/// Emissions by sector (stacked), with the cap and the bank as lines.
pub fn emissions_and_bank(dir: &Path, result: &RunResult) -> Result<Vec<PathBuf>> {
    let data = StackChart {
        title: format!("Emissions and bank: {}", result.scenario),
        y_desc: "t",
        years: &result.years,
        layers: result
            .sectors
            .iter()
            .map(|s| (s.name.clone(), s.emissions_t.clone()))
            .collect(),
        lines: vec![
            (
                "cap".into(),
                result.market.iter().map(|y| y.cap_t).collect(),
            ),
            (
                "bank (TNAC)".into(),
                result.market.iter().map(|y| y.bank_t).collect(),
            ),
        ],
    };
    render_both(
        dir,
        "emissions_and_bank",
        |r| draw_stack(r, &data),
        |r| draw_stack(r, &data),
    )
}

/// All charts of a run (and its Monte Carlo bands, if any) into `dir`.
pub fn all(
    dir: &Path,
    model: &Model,
    result: &RunResult,
    mc: Option<&McResult>,
) -> Result<Vec<PathBuf>> {
    let mut files = price_path(dir, model, result, mc)?;
    files.extend(cost_curve(dir, model, result, 0)?);
    if result.years.len() > 1 {
        files.extend(cost_curve(dir, model, result, result.years.len() - 1)?);
    }
    files.extend(allocation_by_sector(dir, result)?);
    files.extend(allocation_by_tier(dir, model, result)?);
    files.extend(emissions_and_bank(dir, result)?);
    Ok(files)
}

/// A sweep's outcome over its parameters: prices against the value for one swept parameter,
/// a heat map of the last year's price (each cell labelled) for two; nothing for more.
pub fn sweep(
    dir: &Path,
    scenario: &str,
    axes: &[SweepAxis],
    runs: &[SweepRun],
) -> Result<Vec<PathBuf>> {
    let outcome =
        |run: &SweepRun, pick: fn(&RunResult) -> f64| run.outcome.as_ref().map_or(f64::NAN, pick);
    let first = |r: &RunResult| r.prices().first().copied().unwrap_or(f64::NAN);
    let last = |r: &RunResult| r.prices().last().copied().unwrap_or(f64::NAN);
    let currency = runs
        .iter()
        .find_map(|r| r.outcome.as_ref().ok())
        .map_or("", |r| r.currency.as_str());
    match axes {
        [axis] => {
            let data = SweepLine {
                title: format!("Sweep of {}: {scenario}", axis.path),
                x_desc: axis.path.clone(),
                y_desc: format!("price ({currency}/t)"),
                x: runs.iter().map(|r| r.overrides[0].1).collect(),
                lines: vec![
                    (
                        "first-year price",
                        runs.iter().map(|r| outcome(r, first)).collect(),
                    ),
                    (
                        "last-year price",
                        runs.iter().map(|r| outcome(r, last)).collect(),
                    ),
                ],
            };
            render_both(
                dir,
                "sweep",
                |r| draw_sweep_line(r, &data),
                |r| draw_sweep_line(r, &data),
            )
        }
        [x, y] => {
            let data = HeatMap {
                title: format!("Last-year price ({currency}/t): {scenario}"),
                x: x.clone(),
                y: y.clone(),
                // run_sweep's grid varies the last axis fastest.
                cells: runs.iter().map(|r| outcome(r, last)).collect(),
            };
            render_both(
                dir,
                "sweep",
                |r| draw_heat_map(r, &data),
                |r| draw_heat_map(r, &data),
            )
        }
        _ => Ok(Vec::new()),
    }
}

struct SweepLine {
    title: String,
    x_desc: String,
    y_desc: String,
    x: Vec<f64>,
    lines: Vec<(&'static str, Vec<f64>)>,
}

fn draw_sweep_line<DB: DrawingBackend>(root: &Area<'_, DB>, data: &SweepLine) -> DrawResult {
    let (x_low, x_high) = data
        .x
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(*v), h.max(*v))
        });
    let pad = ((x_high - x_low) * 0.05).max(1e-9);
    let (low, high) = range_of(data.lines.iter().flat_map(|l| l.1.iter()).copied());
    let mut chart = ChartBuilder::on(root)
        .caption(&data.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((x_low - pad)..(x_high + pad), low..high)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(&data.x_desc)
        .y_desc(&data.y_desc)
        .draw()
        .map_err(|e| e.to_string())?;
    for (index, (label, values)) in data.lines.iter().enumerate() {
        let style = PALETTE[index % PALETTE.len()].stroke_width(2);
        let mut line: Vec<(f64, f64)> = (data.x.iter().copied())
            .zip(values.iter().copied())
            .filter(|(_, v)| v.is_finite())
            .collect();
        // Values may be given in any order (`100,90,110`): the line runs left to right.
        line.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(line.iter().map(|p| Circle::new(*p, 4, style.filled())))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(line, style))
            .map_err(|e| e.to_string())?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    legend_style(&mut chart)
}

struct HeatMap {
    title: String,
    x: SweepAxis,
    y: SweepAxis,
    /// Row-major over (x, y): `cells[i * y.len() + j]`.
    cells: Vec<f64>,
}

/// Blue (low) to red (high).
fn heat(share: f64) -> RGBColor {
    let s = share.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * s).round() as u8;
    RGBColor(mix(49.0, 215.0), mix(130.0, 48.0), mix(189.0, 39.0))
}

fn draw_heat_map<DB: DrawingBackend>(root: &Area<'_, DB>, data: &HeatMap) -> DrawResult {
    let (nx, ny) = (data.x.values.len(), data.y.values.len());
    let (low, high) = data
        .cells
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(*v), h.max(*v))
        });
    let span = (high - low).max(1e-12);
    let mut chart = ChartBuilder::on(root)
        .caption(&data.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..(nx as f64 - 0.5), -0.5..(ny as f64 - 0.5))
        .map_err(|e| e.to_string())?;
    let label = |values: &[f64], at: f64| {
        let i = at.round();
        let exact = (at - i).abs() < 1e-6 && i >= 0.0;
        (exact.then(|| values.get(i as usize)).flatten())
            .map_or(String::new(), |v| crate::numbers::cell(*v))
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(nx.max(2))
        .y_labels(ny.max(2))
        .x_label_formatter(&|x| label(&data.x.values, *x))
        .y_label_formatter(&|y| label(&data.y.values, *y))
        .x_desc(&data.x.path)
        .y_desc(&data.y.path)
        .draw()
        .map_err(|e| e.to_string())?;
    for (index, value) in data.cells.iter().enumerate() {
        let (i, j) = ((index / ny) as f64, (index % ny) as f64);
        let fill = if value.is_finite() {
            heat((value - low) / span)
        } else {
            RGBColor(220, 220, 220)
        };
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(i - 0.5, j - 0.5), (i + 0.5, j + 0.5)],
                fill.filled(),
            )))
            .map_err(|e| e.to_string())?;
        let text = if value.is_finite() {
            format!("{value:.2}")
        } else {
            "failed".into()
        };
        chart
            .draw_series(std::iter::once(Text::new(
                text,
                (i - 0.2, j),
                ("sans-serif", 16).into_font().color(&WHITE),
            )))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
