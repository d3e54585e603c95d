//! `krunner plugins list`: every plugin file on the search path and whether it would load.

use std::path::PathBuf;

use serde::Serialize;

use super::{load, SearchPath};

/// One row of the listing.
#[derive(Debug, Serialize)]
pub struct Row {
    /// The file.
    pub file: PathBuf,
    /// Language (from the plugin when it loads, else from the file name).
    pub language: String,
    /// The plugin's version.
    pub plugin_version: String,
    /// The plugin-api version it was built against.
    pub api_version: String,
    /// Declared capabilities.
    pub capabilities: Vec<String>,
    /// `ok`, `shadowed` or `broken`.
    pub status: &'static str,
    /// Why, when not ok.
    pub reason: String,
}

/// Examines every candidate on the search path.
pub fn rows(search: &SearchPath) -> Vec<Row> {
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
                    status: "shadowed",
                    reason: format!("{} is used instead", winner.display()),
                };
            }
            match load(&c.path) {
                Ok(p) => Row {
                    file: c.path,
                    language: p.info.language,
                    plugin_version: p.info.plugin_version,
                    api_version: p.built_against,
                    capabilities: p.info.capabilities,
                    status: "ok",
                    reason: String::new(),
                },
                Err(e) => Row {
                    file: c.path,
                    language: c.language,
                    plugin_version: String::new(),
                    api_version: String::new(),
                    capabilities: Vec::new(),
                    status: "broken",
                    reason: e.to_string(),
                },
            }
        })
        .collect()
}

/// Prints the listing as a table or JSON.
pub fn print(plugin_dirs: &[PathBuf], json: bool) {
    let search = SearchPath::new(plugin_dirs);
    let rows = rows(&search);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())
        );
        return;
    }
    let dirs: Vec<String> = search
        .dirs()
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    println!("search path: {}", dirs.join(":"));
    if rows.is_empty() {
        println!("no plugins found");
        return;
    }
    println!(
        "{:<10} {:<8} {:<8} {:<9} {:<24} FILE",
        "LANGUAGE", "VERSION", "API", "STATUS", "CAPABILITIES"
    );
    for r in rows {
        println!(
            "{:<10} {:<8} {:<8} {:<9} {:<24} {}",
            r.language,
            r.plugin_version,
            r.api_version,
            r.status,
            r.capabilities.join(","),
            r.file.display()
        );
        if !r.reason.is_empty() {
            println!("           ↳ {}", r.reason);
        }
    }
}
