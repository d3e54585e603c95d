//! `get-apps` (docs/protocol.md §6.11): the services with a definition, read off the
//! dispatcher's thread.
//!
//! Listing reads the definition directory and every file in it, which is blocking work that
//! a strange file could stretch (a FIFO, a device, a slow file system). It runs on the
//! blocking pool under a deadline, so the receive loop keeps serving `complete`, `exec` and
//! signals meanwhile, and its reply takes its place in a queue of its own, so `apps-result`s
//! still leave in request order.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{lock, Services};
use crate::logging::WIRE;
use crate::wire::Msg;

/// How long one listing may take before it is answered with what the runner knows without
/// the directory (the model services).
const DEADLINE: Duration = Duration::from_secs(10);

impl Services {
    /// `get-apps`: answered later, in request order, with exactly one `apps-result`.
    pub(crate) fn get_apps(self: &Arc<Self>, filter: String) {
        let slot = self.apps_replies.reserve(Msg::AppsResult(Vec::new()));
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let filter = filter.trim().to_owned();
            let listing = {
                let (this, filter) = (Arc::clone(&this), filter.clone());
                tokio::task::spawn_blocking(move || this.apps(&filter))
            };
            let apps = match tokio::time::timeout(DEADLINE, listing).await {
                Ok(Ok(apps)) => apps,
                Ok(Err(e)) => {
                    tracing::warn!(target: WIRE, "get-apps: listing failed: {e}");
                    this.model_apps(&filter, |_| false)
                }
                Err(_) => {
                    tracing::warn!(
                        target: WIRE,
                        "get-apps: reading {} took more than {DEADLINE:?}; listing model services only",
                        this.config.def_dir.display()
                    );
                    this.model_apps(&filter, |_| false)
                }
            };
            slot.send(Msg::AppsResult(apps));
        });
    }

    /// Answers a `get-apps` whose payload could not even be decoded, keeping its place.
    pub(crate) fn answer_get_apps(&self, reply: Msg) {
        let slot = self.apps_replies.reserve(reply.clone());
        slot.send(reply);
    }

    /// The entries of the definition files, then of the model services without a file of
    /// the same name (blocking). A file that is not a usable definition is skipped and logged.
    fn apps(&self, filter: &str) -> Vec<Value> {
        let names = if filter.is_empty() {
            self.defs.names()
        } else {
            vec![filter.to_owned()]
        };
        let mut apps = Vec::new();
        for name in names {
            match self.defs.load(&name) {
                Some(Ok(def)) => apps.push(def.app_entry(&name)),
                Some(Err(e)) => {
                    tracing::warn!(target: WIRE, "get-apps: service {name} is not listed: {e}")
                }
                None => {}
            }
        }
        apps.extend(self.model_apps(filter, |name| self.defs.has_file(name)));
        apps
    }

    /// The model services matching `filter`, except those `shadowed` (by a definition file).
    fn model_apps(&self, filter: &str, shadowed: impl Fn(&str) -> bool) -> Vec<Value> {
        let models: Vec<(String, Value)> = lock(&self.models)
            .iter()
            .filter(|(name, _)| filter.is_empty() || filter == name.as_str())
            .map(|(name, def)| (name.clone(), def.app_entry(name)))
            .collect();
        models
            .into_iter()
            .filter(|(name, _)| !shadowed(name))
            .map(|(_, entry)| entry)
            .collect()
    }
}
