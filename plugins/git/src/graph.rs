//! `%show graph`: the repository's commits as the `application/vnd.sorna.gitgraph` media the
//! Backend.AI console draws — oldest first, each with its abbreviated id, parent ids, author,
//! subject, the branch it was reached from and its parents' branches.

use std::collections::BTreeMap;

use krunner_plugin_api::serde_json::{json, Value};

/// The `git log` arguments whose output [`parse`] reads (fields separated by U+001F).
pub const LOG_ARGS: [&str; 6] = [
    "log",
    "--all",
    "--source",
    "--topo-order",
    "--reverse",
    "--pretty=format:%h%x1f%p%x1f%s%x1f%an%x1f%S",
];

/// Builds the media data from `git log` output.
pub fn parse(log: &str) -> Value {
    let mut branches: BTreeMap<&str, String> = BTreeMap::new();
    let mut rows = Vec::new();
    for line in log.lines() {
        let fields: Vec<&str> = line.split('\u{1f}').collect();
        let [oid, parents, message, author, source] = fields[..] else {
            continue;
        };
        let branch = source
            .strip_prefix("refs/heads/")
            .or_else(|| source.strip_prefix("refs/remotes/"))
            .or_else(|| source.strip_prefix("refs/tags/"))
            .unwrap_or(source)
            .to_owned();
        branches.insert(oid, branch.clone());
        rows.push((oid, parents, message, author, branch));
    }
    let commits: Vec<Value> = rows
        .into_iter()
        .map(|(oid, parents, message, author, branch)| {
            let parent_ids: Vec<&str> = parents.split_whitespace().collect();
            let parent_branches: Vec<Value> = parent_ids
                .iter()
                .map(|p| branches.get(p).map_or(Value::Null, |b| json!(b)))
                .collect();
            json!({
                "oid": oid,
                "parent_ids": parent_ids,
                "author": author,
                "message": message,
                "branch": branch,
                "parent_branches": parent_branches,
            })
        })
        .collect();
    Value::Array(commits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_log() {
        let log = "aaa\u{1f}\u{1f}first\u{1f}Ada\u{1f}refs/heads/main\n\
                   bbb\u{1f}aaa\u{1f}second || with bars\u{1f}Bob\u{1f}refs/heads/dev\n\
                   garbage line\n";
        let v = parse(log);
        assert_eq!(v[0]["oid"], "aaa");
        assert_eq!(v[0]["parent_ids"], json!([]));
        assert_eq!(v[0]["branch"], "main");
        assert_eq!(v[1]["parent_ids"], json!(["aaa"]));
        assert_eq!(v[1]["parent_branches"], json!(["main"]));
        assert_eq!(v[1]["message"], "second || with bars");
        assert_eq!(v[1]["author"], "Bob");
        assert_eq!(v.as_array().map(Vec::len), Some(2));
    }
}
