//! The benchmark's output: one Markdown table, a column per runner and, for every runner
//! after the first, a column with the first one's advantage over it.

use crate::{Args, Results};

/// One row of the table: what is measured, in which unit, and which way is better.
struct Row {
    label: String,
    get: fn(&Results) -> f64,
    unit: &'static str,
    higher_is_better: bool,
}

impl Row {
    fn new(label: &str, get: fn(&Results) -> f64, unit: &'static str, higher: bool) -> Self {
        Self {
            label: label.to_owned(),
            get,
            unit,
            higher_is_better: higher,
        }
    }
}

fn rows(args: &Args, with_code: bool) -> Vec<Row> {
    let streaming = format!("stdout streaming ({} MB)", args.stream_mb);
    let mut rows = vec![
        Row::new("startup to first `status`", |r| r.startup_ms, "ms", false),
        Row::new(
            "`exec true` round trip (median)",
            |r| r.exec_ms,
            "ms",
            false,
        ),
        Row::new("`status` round trip (mean)", |r| r.status_us, "µs", false),
        Row::new(&streaming, |r| r.stream_mb_s, "MB/s", true),
        Row::new("`seq 1 200000` (median)", |r| r.seq_ms, "ms", false),
        Row::new(
            "idle RSS of the runner process",
            |r| r.rss_mib,
            "MiB",
            false,
        ),
    ];
    if with_code {
        rows.push(Row::new(
            "`code` round trip (median)",
            |r| r.code_ms.unwrap_or(f64::NAN),
            "ms",
            false,
        ));
        rows.push(Row::new(
            "RSS of runner + session processes",
            |r| r.tree_rss_mib.unwrap_or(f64::NAN),
            "MiB",
            false,
        ));
    }
    rows
}

/// Prints the results as a Markdown table with ratios against the first runner.
pub fn print_table(all: &[(String, Results)], args: &Args) {
    let mut header = "| metric |".to_owned();
    let mut rule = "|---|".to_owned();
    for (name, _) in all {
        header.push_str(&format!(" {name} |"));
        rule.push_str("---:|");
    }
    for (name, _) in all.iter().skip(1) {
        header.push_str(&format!(" {} advantage over {name} |", all[0].0));
        rule.push_str("---:|");
    }
    println!("{header}\n{rule}");
    for row in rows(args, all.iter().any(|(_, r)| r.code_ms.is_some())) {
        let unit = row.unit;
        let mut line = format!("| {} |", row.label);
        for (_, r) in all {
            line.push_str(&format!(" {:.3} {unit} |", (row.get)(r)));
        }
        let base = (row.get)(&all[0].1);
        for (_, r) in all.iter().skip(1) {
            let v = (row.get)(r);
            let ratio = if row.higher_is_better {
                base / v
            } else {
                v / base
            };
            line.push_str(&format!(" {ratio:.1}× |"));
        }
        println!("{line}");
    }
}
