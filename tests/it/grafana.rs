//! The Grafana dashboard in `contrib/grafana/courier.json`: it parses, takes its data source
//! from a variable (so it imports into any Grafana), and every metric its panels and
//! variables query is one a running Courier exports.

use std::collections::{BTreeMap, BTreeSet};

use courier::cluster::ClusterBoard;
use courier_sim::SimEhrOptions;
use serde_json::Value;

use crate::support::admin::{get, start_admin_in_cluster};
use crate::support::app::{eventually, spawn_app, PATIENCE};

/// What every panel's data source is: the dashboard's `datasource` variable.
const DATASOURCE: &str = "${datasource}";

fn dashboard() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/grafana/courier.json");
    let text = std::fs::read_to_string(path).expect("the dashboard is in contrib/grafana");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Every panel, those inside (collapsed) rows included, and not the rows themselves.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            if panel["type"] != "row" {
                out.push(panel);
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Every PromQL expression of the dashboard: the panels' queries, and the metric selectors of
/// the variables' `label_values(selector, label)` queries.
fn expressions(dashboard: &Value) -> Vec<String> {
    let mut found: Vec<String> = panels(dashboard)
        .iter()
        .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        .map(|target| target["expr"].as_str().expect("a PromQL expr").to_owned())
        .collect();
    for variable in variables(dashboard) {
        if variable["type"] != "query" {
            continue;
        }
        let query = match &variable["query"] {
            Value::String(query) => query.as_str(),
            object => object["query"].as_str().expect("a variable query"),
        };
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{query:?} is not label_values(selector, label)"));
        let (selector, _label) = inner.rsplit_once(',').expect("a selector and a label");
        found.push(selector.to_owned());
    }
    found
}

fn variables(dashboard: &Value) -> &Vec<Value> {
    dashboard["templating"]["list"]
        .as_array()
        .expect("template variables")
}

/// PromQL's aggregation operators and keywords: words in an expression that are not metrics.
const KEYWORDS: [&str; 18] = [
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "limitk",
];

/// Modifiers followed by a parenthesised list of label names.
const GROUPINGS: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names a PromQL expression reads: its words, less function calls, operators,
/// grouping labels, and what is inside matchers, ranges, strings and Grafana variables.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' || c == '[' || c == '"' {
            i = skip_group(&chars, i);
        } else if c == '$' || c.is_ascii_digit() {
            // A variable (`$x`, `${x}`, `$__rate_interval`) or a number (`0.95`, `1e3`).
            i += 1;
            while i < chars.len() && (is_word(chars[i]) || "{}.".contains(chars[i])) {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && is_word(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if GROUPINGS.contains(&word.as_str()) {
                let open = chars[i..].iter().position(|c| *c == '(');
                i = skip_group(&chars, i + open.expect("a label list"));
            } else if next != Some(&'(') && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The index just past the group (`{…}`, `[…]`, `(…)` or a string) opening at `start`.
fn skip_group(chars: &[char], start: usize) -> usize {
    let close = match chars[start] {
        '{' => '}',
        '[' => ']',
        '(' => ')',
        _ => '"',
    };
    let mut i = start + 1;
    while i < chars.len() && chars[i] != close {
        match chars[i] {
            '\\' => i += 2,
            '"' if close != '"' => i = skip_group(chars, i),
            _ => i += 1,
        }
    }
    i + 1
}

/// The metric families of a text exposition, by name, with their type.
fn families(exposition: &str) -> BTreeMap<String, String> {
    exposition
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            (name.to_owned(), kind.to_owned())
        })
        .collect()
}

/// Whether `name` is a family of the exposition, or a series of one of its histograms.
fn exported(families: &BTreeMap<String, String>, name: &str) -> bool {
    families.contains_key(name)
        || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|base| families.get(base).is_some_and(|kind| kind == "histogram"))
        })
}

#[test]
fn metric_names_leave_out_functions_groupings_matchers_and_variables() {
    let expr = "histogram_quantile(0.95, sum by (destination, le) (rate(courier_x_bucket\
                {instance=~\"$instance\", class!=\"2xx\"}[$__rate_interval]))) \
                + 2 * max without (kind) (courier_y{a=\"}\"}) / on (connection) courier_z offset 5m";
    let names: Vec<String> = metric_names(expr).into_iter().collect();
    assert_eq!(names, ["courier_x_bucket", "courier_y", "courier_z"]);
}

#[test]
fn the_dashboard_takes_its_data_source_from_a_variable_and_hard_codes_none() {
    let dashboard = dashboard();
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36);
    let inputs = dashboard["__inputs"].as_array().expect("import inputs");
    let input = inputs
        .iter()
        .find(|i| i["type"] == "datasource" && i["pluginId"] == "prometheus")
        .expect("a Prometheus data source input");
    let variable = variables(&dashboard)
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(variable["type"], "datasource");
    assert_eq!(variable["query"], "prometheus");
    let chosen = format!("${{{}}}", input["name"].as_str().unwrap());
    assert_eq!(variable["current"]["value"], chosen.as_str());
    for name in ["connection", "destination"] {
        let variable = variables(&dashboard).iter().find(|v| v["name"] == name);
        let variable = variable.unwrap_or_else(|| panic!("a {name} variable"));
        assert_eq!(variable["type"], "query", "{name}");
        assert_eq!(variable["datasource"]["uid"], DATASOURCE, "{name}");
    }
    let panels = panels(&dashboard);
    assert!(panels.len() >= 20, "{} panels", panels.len());
    for panel in &panels {
        let title = &panel["title"];
        assert_eq!(panel["datasource"]["uid"], DATASOURCE, "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} queries nothing");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], DATASOURCE, "{title}");
            assert!(target["expr"].as_str().is_some_and(|e| !e.is_empty()));
        }
    }
    let mut uids = Vec::new();
    collect_uids(&dashboard, &mut uids);
    let fixed: Vec<_> = uids.iter().filter(|uid| !uid.starts_with("${")).collect();
    assert!(fixed.is_empty(), "hard-coded data source uids: {fixed:?}");
}

/// Every `uid` of a data source reference, anywhere in `value`.
fn collect_uids(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "datasource" {
                    if let Some(uid) = inner["uid"].as_str() {
                        out.push(uid.to_owned());
                    }
                }
                collect_uids(inner, out);
            }
        }
        Value::Array(list) => list.iter().for_each(|inner| collect_uids(inner, out)),
        _ => {}
    }
}

#[actix_rt::test]
async fn every_metric_the_dashboard_queries_is_one_courier_exports() {
    let quiet = SimEhrOptions {
        initial_changes: 0,
        ..SimEhrOptions::default()
    };
    let test = spawn_app(quiet, |c| c).await;
    // A cluster view, so the cluster families are exported as on a PostgreSQL store.
    let cluster = ClusterBoard::new("node-1", "hash-one");
    let admin = start_admin_in_cluster(&test, None, Some(cluster));
    test.ehr.touch("appt-1");
    eventually("a delivery", PATIENCE, || {
        test.receiver.unique_accepted_ids() == 1
    })
    .await;
    let scrape = get(&admin.url(), "/metrics").await;
    assert!(scrape.status.is_success(), "{}", scrape.text);
    let families = families(&scrape.text);

    let dashboard = dashboard();
    let mut queried = BTreeSet::new();
    for expr in expressions(&dashboard) {
        let names = metric_names(&expr);
        assert!(!names.is_empty(), "no metric in {expr:?}");
        queried.extend(names);
    }
    let missing: Vec<_> = queried
        .iter()
        .filter(|name| !exported(&families, name))
        .collect();
    assert!(
        missing.is_empty(),
        "queried and not exported: {missing:?}\n{}",
        scrape.text
    );
    // Each family the dashboard is meant to show is there (the test is not vacuous).
    for family in [
        "courier_polls_total",
        "courier_poll_failures_total",
        "courier_changes_total",
        "courier_destination_backlog",
        "courier_destination_oldest_pending_age_seconds",
        "courier_notifications_delivered_total",
        "courier_delivery_attempts_total",
        "courier_notifications_dead_lettered_total",
        "courier_delivery_latency_seconds_bucket",
        "courier_destination_state",
        "courier_store_up",
        "courier_ready",
        "courier_cluster_leases_held",
    ] {
        assert!(queried.contains(family), "the dashboard shows no {family}");
    }
}
