//! `krunner plugins list` and `krunner plugins check`: what is on the search path, and whether
//! each file would load, each probed in its own child process; and `krunner __probe`, that
//! child.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::plugin::probe::{self, Report, Status};
use crate::plugin::NotFound;
use crate::plugin::SearchPath;

/// One row of the listing.
#[derive(Debug, Serialize)]
struct Row {
    /// The file.
    file: PathBuf,
    /// Language (from the plugin when it loads, else from the file name).
    language: String,
    /// The plugin's version.
    plugin_version: String,
    /// The plugin-api version it was built against.
    api_version: String,
    /// Declared capabilities.
    capabilities: Vec<String>,
    /// `ok`, `incompatible`, `broken` or `shadowed`.
    status: String,
    /// Why, when not ok.
    reason: String,
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Incompatible => "incompatible",
        Status::Broken => "broken",
    }
}

/// Examines every candidate on the search path.
fn rows(search: &SearchPath) -> Vec<Row> {
    search
        .candidates()
        .into_iter()
        .map(|c| {
            if let Some(winner) = &c.shadowed_by {
                return Row {
                    file: c.path.clone(),
                    language: c.language,
                    plugin_version: String::new(),
                    api_version: String::new(),
                    capabilities: Vec::new(),
                    status: "shadowed".into(),
                    reason: format!("{} is used instead", winner.display()),
                };
            }
            let report = probe::in_child(&c.path);
            let info = report.info.clone().unwrap_or_default();
            Row {
                file: c.path,
                language: if info.language.is_empty() {
                    c.language
                } else {
                    info.language
                },
                plugin_version: info.plugin_version,
                api_version: report.built_against.unwrap_or_default(),
                capabilities: info.capabilities,
                status: status_name(report.status).into(),
                reason: report.reason,
            }
        })
        .collect()
}

/// Prints the listing as a table or JSON. Returns whether every winning plugin is ok.
pub(crate) fn list(plugin_dirs: &[PathBuf], json: bool) -> bool {
    let search = SearchPath::new(plugin_dirs);
    let rows = rows(&search);
    let all_ok = rows
        .iter()
        .all(|r| r.status == "ok" || r.status == "shadowed");
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())
        );
        return all_ok;
    }
    let dirs: Vec<String> = search
        .dirs()
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    println!("search path: {}", dirs.join(":"));
    if rows.is_empty() {
        println!("no plugins found");
        return all_ok;
    }
    println!(
        "{:<16} {:<8} {:<8} {:<13} {:<28} FILE",
        "LANGUAGE", "VERSION", "API", "STATUS", "CAPABILITIES"
    );
    for r in rows {
        println!(
            "{:<16} {:<8} {:<8} {:<13} {:<28} {}",
            r.language,
            r.plugin_version,
            r.api_version,
            r.status,
            r.capabilities.join(","),
            r.file.display()
        );
        if !r.reason.is_empty() {
            println!("                 ↳ {}", r.reason);
        }
    }
    all_ok
}

/// Resolves a `plugins check` argument: a path (contains `/` or ends in `.so`) or a language.
fn resolve(target: &str, plugin_dirs: &[PathBuf]) -> Result<(PathBuf, Vec<PathBuf>), NotFound> {
    if target.contains('/') || target.ends_with(".so") {
        return Ok((PathBuf::from(target), Vec::new()));
    }
    let search = SearchPath::new(plugin_dirs);
    let winner = search.find_or_explain(target)?;
    let candidates = search.candidates();
    let shadowed = candidates
        .iter()
        .filter(|c| c.language == target && c.shadowed_by.is_some())
        .map(|c| c.path.clone())
        .collect();
    Ok((winner.path.clone(), shadowed))
}

/// Prints a full diagnosis of one plugin; returns whether it would load.
pub(crate) fn check(target: &str, plugin_dirs: &[PathBuf], verbose: bool) -> bool {
    let (file, shadowed) = match resolve(target, plugin_dirs) {
        Ok(r) => r,
        Err(e) => {
            println!("status:       broken\nreason:       {e}");
            return false;
        }
    };
    let report = probe::in_child(&file);
    print_report(&report, verbose);
    for s in shadowed {
        println!(
            "shadowed:     {} (same language, later on the search path)",
            s.display()
        );
    }
    report.status == Status::Ok
}

fn print_report(report: &Report, verbose: bool) {
    println!("file:         {}", report.file.display());
    println!("status:       {}", status_name(report.status));
    if let Some(info) = &report.info {
        println!("language:     {}", info.language);
        println!("version:      {}", info.plugin_version);
        if !info.description.is_empty() {
            println!("description:  {}", info.description);
        }
        if report.languages.len() > 1 {
            println!(
                "serves:       {} (one file, installed once per language)",
                report.languages.join(", ")
            );
        }
        println!("capabilities: {}", info.capabilities.join(", "));
        if let Some(rt) = &info.default_runtime {
            println!("runtime:      {rt} (default)");
        }
    }
    if let Some(v) = &report.built_against {
        println!(
            "plugin-api:   built against {v}; this host provides {}",
            krunner_plugin_api::API_VERSION
        );
    }
    match &report.samples {
        Some(s) => println!("samples:      {}", s.len()),
        None if report.status == Status::Ok => {
            println!("samples:      none (built against plugin-api 1.0, which predates samples)")
        }
        None => {}
    }
    if report.status == Status::Ok {
        println!("runner:       created and shut down");
    } else {
        println!("reason:       {}", report.reason);
        println!("what to do:   {}", advice(report));
        if let Some(details) = &report.details {
            if verbose {
                println!("\n{details}");
            } else {
                println!("              (run with --verbose for the full layout report)");
            }
        }
    }
}

fn advice(report: &Report) -> &'static str {
    let r = report.reason.as_str();
    if r.contains("truncated") {
        "the file is incomplete: copy it again"
    } else if r.contains("not an ELF") {
        "this is not a compiled plugin: build the plugin crate and copy the .so it produces"
    } else if r.contains("not a krunner plugin") {
        "export the plugin with krunner_plugin_api::export_plugin!"
    } else if r.contains("cannot be loaded") {
        "install the shared libraries it needs (see `ldd` on the file)"
    } else if r.contains("targets plugin-api") || r.contains("requires plugin-api") {
        "use a plugin and a host of the same major plugin-api version"
    } else if r.contains("types differ") {
        "rebuild the plugin against the krunner-plugin-api version it claims"
    } else if r.contains("crashed") || r.contains("panicked") || r.contains("initialisation") {
        "the plugin's own code failed while starting: report it to its author"
    } else if r.contains("but the plugin serves") {
        "name the file (or a hard link to it) libkernel_<language>.so for a language it serves"
    } else if r.contains("named for") {
        "rename the file to libkernel_<language>.so as the plugin reports it"
    } else {
        "see the reason above"
    }
}

/// `plugins test` uses this to find the file of a language.
pub(crate) fn file_of(language: &str, plugin_dirs: &[PathBuf]) -> Result<PathBuf, NotFound> {
    resolve(language, plugin_dirs).map(|(f, _)| f)
}

/// `krunner __probe FILE`: loads one plugin here and prints the JSON report.
pub(crate) fn probe_here(file: &Path) {
    let report = probe::here(file);
    println!("{}", serde_json::to_string(&report).unwrap_or_default());
}
