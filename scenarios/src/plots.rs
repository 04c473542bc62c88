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
}

fn draw_price<DB: DrawingBackend>(root: &Area<'_, DB>, data: &PriceChart<'_>) -> DrawResult {
    let years: Vec<f64> = data.years.iter().map(|y| f64::from(*y)).collect();
    let upper = data.bands.map(|b| b.2.to_vec()).unwrap_or_default();
    let other = data
        .other
        .as_ref()
        .map(|o| o.1.as_slice())
        .unwrap_or_default();
    let (low, high) = range_of(
        data.prices
            .iter()
            .chain(upper.iter())
            .chain(other.iter())
            .copied(),
    );
    let mut chart = ChartBuilder::on(root)
        .caption(&data.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(years_range(data.years), low..high)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("year")
        .y_desc(&data.unit)
        .draw()
        .map_err(|e| e.to_string())?;
    if let Some((p5, p50, p95)) = data.bands {
        let mut polygon: Vec<(f64, f64)> = years.iter().copied().zip(p95.iter().copied()).collect();
        polygon.extend(years.iter().copied().zip(p5.iter().copied()).rev());
        let band = PALETTE[0].mix(0.25);
        chart
            .draw_series(std::iter::once(Polygon::new(polygon, band)))
            .map_err(|e| e.to_string())?
            .label("Monte Carlo p5-p95")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], band.filled()));
        chart
            .draw_series(LineSeries::new(
                years.iter().copied().zip(p50.iter().copied()),
                PALETTE[0].stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label("Monte Carlo median")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], PALETTE[0].stroke_width(2))
            });
    }
    if let Some((label, prices)) = &data.other {
        chart
            .draw_series(LineSeries::new(
                years.iter().copied().zip(prices.iter().copied()),
                PALETTE[7].stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(label.as_str())
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], PALETTE[7].stroke_width(2))
            });
    }
    chart
        .draw_series(LineSeries::new(
            years.iter().copied().zip(data.prices.iter().copied()),
            PALETTE[3].stroke_width(3),
        ))
        .map_err(|e| e.to_string())?
        .label(data.label.as_str())
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], PALETTE[3].stroke_width(3)));
    legend_style(&mut chart)
}

/// Price path, with the Monte Carlo p5-p95 band and median if given.
pub fn price_path(dir: &Path, result: &RunResult, mc: Option<&McResult>) -> Result<Vec<PathBuf>> {
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
    let mut chart = ChartBuilder::on(root)
        .caption(&data.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(years_range(data.years), low..high)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("year")
        .y_desc(data.y_desc)
        .draw()
        .map_err(|e| e.to_string())?;
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
    let mut files = price_path(dir, result, mc)?;
    files.extend(cost_curve(dir, model, result, 0)?);
    if result.years.len() > 1 {
        files.extend(cost_curve(dir, model, result, result.years.len() - 1)?);
    }
    files.extend(allocation_by_sector(dir, result)?);
    files.extend(emissions_and_bank(dir, result)?);
    Ok(files)
}
