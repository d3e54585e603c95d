//! Completion: the voice ids of `DescribeVoices`, for the word at the cursor.
//!
//! The list is fetched once per endpoint, region and access key and kept for the runner's
//! life; a failed fetch is retried after [`RETRY_AFTER`]. The host gives a completion one
//! second, so the fetch runs on a thread of its own and a completion waits for it only up to
//! a deadline: one that arrives before the list answers with nothing, and the next one finds
//! the list. Only one fetch runs at a time.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long after a failed fetch the next completion tries again.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

/// What the cache is for: a fetch for another key starts afresh.
pub type Key = (String, String, String);

#[derive(Default)]
enum State {
    #[default]
    Empty,
    Fetching(Key),
    Ready(Key, Arc<Vec<String>>),
    Failed(Key, Instant),
}

/// The cached voice ids.
#[derive(Default)]
pub struct Voices {
    state: Mutex<State>,
    changed: Condvar,
}

impl Voices {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The voice ids for `key`, fetching them with `fetch` when they are not known yet and
    /// waiting for them at most `wait`; empty when they are not there in time.
    pub fn ids<F>(self: &Arc<Self>, key: Key, wait: Duration, fetch: F) -> Arc<Vec<String>>
    where
        F: FnOnce() -> Option<Vec<String>> + Send + 'static,
    {
        let deadline = Instant::now() + wait;
        let mut state = self.lock();
        let start = match &*state {
            State::Ready(k, ids) if *k == key => return Arc::clone(ids),
            State::Fetching(k) => *k != key,
            State::Failed(k, at) => *k != key || at.elapsed() >= RETRY_AFTER,
            _ => true,
        };
        if start {
            *state = State::Fetching(key.clone());
            let voices = Arc::clone(self);
            let fetched = key.clone();
            let spawned = std::thread::Builder::new()
                .name("polly-voices".into())
                .spawn(move || voices.finish(fetched, fetch()));
            if spawned.is_err() {
                *state = State::Failed(key, Instant::now());
                return Arc::default();
            }
        }
        loop {
            if let State::Ready(k, ids) = &*state {
                if *k == key {
                    return Arc::clone(ids);
                }
            }
            let now = Instant::now();
            if now >= deadline || !matches!(&*state, State::Fetching(k) if *k == key) {
                return Arc::default();
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn finish(&self, key: Key, ids: Option<Vec<String>>) {
        let mut state = self.lock();
        // A fetch for another key may have started meanwhile; it owns the state then.
        if matches!(&*state, State::Fetching(k) if *k == key) {
            *state = match ids {
                Some(ids) => State::Ready(key, Arc::new(ids)),
                None => State::Failed(key, Instant::now()),
            };
        }
        self.changed.notify_all();
    }
}

/// The word the cursor is in or after: letters, digits, `_` and `-` before column `col`
/// (counted in characters) of `line`.
pub fn word_at(line: &str, col: usize) -> &str {
    let end = line.char_indices().nth(col).map_or(line.len(), |(i, _)| i);
    let before = &line[..end];
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '-')
        .last()
        .map_or(end, |(i, _)| i);
    &before[start..]
}

/// The ids that start with `prefix`, ignoring case.
pub fn matching(ids: &[String], prefix: &str) -> Vec<String> {
    let prefix = prefix.to_lowercase();
    ids.iter()
        .filter(|id| id.to_lowercase().starts_with(&prefix))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &str) -> Key {
        (n.into(), "r".into(), "k".into())
    }

    fn ids(list: &[&str]) -> Option<Vec<String>> {
        Some(list.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn the_word_at_the_cursor() {
        let line = r#"{"text": "Hi", "voiceId": "Jo"}"#;
        assert_eq!(word_at(line, 29), "Jo");
        assert_eq!(word_at(line, 27), "");
        assert_eq!(word_at("Seo", 99), "Seo");
        assert_eq!(word_at("é Sé", 4), "Sé");
    }

    #[test]
    fn matching_ignores_case() {
        let all = ids(&["Joanna", "Joey", "Seoyeon"]).expect("ids");
        assert_eq!(matching(&all, "jo"), ["Joanna", "Joey"]);
        assert_eq!(matching(&all, ""), all);
    }

    #[test]
    fn fetched_once_and_kept_per_key() {
        let voices = Arc::new(Voices::default());
        let long = Duration::from_secs(10);
        assert_eq!(*voices.ids(key("a"), long, || ids(&["Joanna"])), ["Joanna"]);
        // Cached: this fetch would fail the test.
        let cached = voices.ids(key("a"), long, || panic!("fetched again"));
        assert_eq!(*cached, ["Joanna"]);
        assert_eq!(
            *voices.ids(key("b"), long, || ids(&["Seoyeon"])),
            ["Seoyeon"]
        );
    }

    #[test]
    fn a_slow_fetch_answers_empty_first_and_fills_the_cache() {
        let voices = Arc::new(Voices::default());
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let first = voices.ids(key("a"), Duration::from_millis(50), move || {
            let _ = wait.recv();
            ids(&["Joanna"])
        });
        assert!(first.is_empty());
        release.send(()).expect("release");
        let later = voices.ids(key("a"), Duration::from_secs(10), || {
            panic!("a second fetch")
        });
        assert_eq!(*later, ["Joanna"]);
    }

    #[test]
    fn a_failed_fetch_is_not_retried_at_once() {
        let voices = Arc::new(Voices::default());
        assert!(voices
            .ids(key("a"), Duration::from_secs(10), || None)
            .is_empty());
        let again = voices.ids(key("a"), Duration::from_secs(10), || panic!("retried"));
        assert!(again.is_empty());
    }
}
