//! The plots' content: the SVG holds the series, lines and labels a reader needs, not only a
//! file. plotters writes each label as a `<text>` element, so the tests read those.

use crate::{example, run};
use scenarios::plots;
use scenarios::sweep::{SweepAxis, run_sweep};

fn svg(dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Each `<text>` element's content, in order.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_owned())
        })
        .collect()
}

fn count(texts: &[String], wanted: &str) -> usize {
    texts.iter().filter(|t| *t == wanted).count()
}

#[test]
fn the_price_path_has_the_policy_lines_and_each_year_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = example("policy.toml");
    let result = run(&scenario);
    let files = plots::all(dir.path(), scenario.model(), &result, None).expect("plots");
    let price = texts(&svg(dir.path(), "price_path.svg"));
    for label in [
        "price ceiling",
        "auction reserve price",
        "CCR trigger price",
        "policy",
    ] {
        assert_eq!(count(&price, label), 1, "{label} in {price:?}");
    }
    // No floor in this scenario: no floor line, and no price interval (linear curves).
    assert_eq!(count(&price, "price floor"), 0);
    assert_eq!(count(&price, "price interval (step curves)"), 0);
    for year in 2026..=2035 {
        assert_eq!(count(&price, &year.to_string()), 1, "{year} in {price:?}");
    }
    // Freed capacity goes to the eite tier first; power (the second tier) gets nothing here,
    // so it has no layer.
    assert!(files.iter().any(|f| f.ends_with("allocation_by_tier.svg")));
    let tiers = texts(&svg(dir.path(), "allocation_by_tier.svg"));
    assert_eq!(count(&tiers, "tier eite"), 1, "{tiers:?}");
    assert_eq!(count(&tiers, "tier power"), 0, "{tiers:?}");
    let granted: f64 = (result.reallocation.iter())
        .filter(|r| r.decision.tier.as_deref() == Some("eite"))
        .map(|r| r.granted_t)
        .sum();
    assert!(granted > 0.0);
    assert_eq!(count(&tiers, "freed capacity"), 1);
}

#[test]
fn a_one_year_run_is_drawn_as_a_point_with_its_price_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = example("p2_step_curves.toml");
    let result = run(&scenario);
    plots::price_path(dir.path(), scenario.model(), &result, None).expect("plot");
    let text = svg(dir.path(), "price_path.svg");
    assert!(text.matches("<circle").count() >= 1, "no marker: {text}");
    let labels = texts(&text);
    assert_eq!(count(&labels, "2026"), 1, "{labels:?}");
    assert_eq!(count(&labels, "price interval (step curves)"), 1);
    // The band spans the interval 80..90 published for P2: a polygon is drawn.
    assert!(text.contains("<polygon"), "no band");
    assert!(!texts(&text).iter().any(|t| t == "2025" || t == "2027"));
}

#[test]
fn a_sweep_is_a_line_over_one_parameter_and_a_heat_map_over_two() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = example("policy.toml");
    let axis = |text: &str| SweepAxis::parse(text).expect("axis");
    let one = [axis("cap.linear_reduction_factor=0.02,0.04,0.06")];
    let runs = run_sweep(&scenario, &one, None).expect("sweep");
    plots::sweep(&dir.path().join("one"), "policy", &one, &runs).expect("plot");
    let line = svg(&dir.path().join("one"), "sweep.svg");
    let labels = texts(&line);
    assert_eq!(count(&labels, "last-year price"), 1, "{labels:?}");
    assert_eq!(count(&labels, "cap.linear_reduction_factor"), 1);
    assert!(
        line.matches("<circle").count() >= 6,
        "a marker per point and line"
    );

    let two = [
        axis("cap.linear_reduction_factor=0.02,0.04"),
        axis("banking.discount_rate=0.03,0.05,0.07"),
    ];
    let runs = run_sweep(&scenario, &two, None).expect("sweep");
    plots::sweep(&dir.path().join("two"), "policy", &two, &runs).expect("plot");
    let map = svg(&dir.path().join("two"), "sweep.svg");
    let labels = texts(&map);
    for value in ["0.02", "0.04", "0.03", "0.05", "0.07"] {
        assert_eq!(count(&labels, value), 1, "{value} in {labels:?}");
    }
    // One labelled cell per grid point, holding that point's last-year price, placed at its
    // parameters: the first axis left to right, the second bottom to top.
    let at = |k: usize| {
        let run = &runs[k];
        let price = run.outcome.as_ref().expect("ok").prices().last().copied();
        let cell = format!("{:.2}", price.expect("price"));
        position(&map, &cell).unwrap_or_else(|| panic!("{cell} in {labels:?}"))
    };
    for i in 0..2 {
        for j in 0..3 {
            let (x, y) = at(i * 3 + j);
            if i > 0 {
                assert!(x > at(j).0, "cell ({i}, {j}) right of (0, {j})");
            }
            if j > 0 {
                assert!(y < at(i * 3).1, "cell ({i}, {j}) above ({i}, 0)");
                assert!(
                    (x - at(i * 3).0).abs() < 1.0,
                    "one column per first-axis value"
                );
            }
        }
    }
}

/// The (x, y) of the `<text>` element whose content is `wanted`.
fn position(svg: &str, wanted: &str) -> Option<(f64, f64)> {
    svg.split("<text").skip(1).find_map(|element| {
        let (tag, rest) = element.split_once('>')?;
        if rest.split("</text>").next()?.trim() != wanted {
            return None;
        }
        let attribute = |name: &str| -> Option<f64> {
            let from = tag.find(&format!(" {name}=\""))? + name.len() + 3;
            tag[from..].split('"').next()?.parse().ok()
        };
        Some((attribute("x")?, attribute("y")?))
    })
}
