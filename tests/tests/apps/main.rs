//! The apps users click in a session, started through `start-service` by `krunner python`
//! exactly as the agent sends it: JupyterLab, Jupyter Notebook and TensorBoard, installed from
//! PyPI, checked over HTTP, by running code in their kernels, in headless Chromium, and for
//! what they leave behind. Slow (each app takes seconds to start), so they are a test target
//! of their own. A test skips when its app is missing, unless KRUNNER_REQUIRE_TOOLCHAINS=1.

#![allow(clippy::unwrap_used)]

mod faults;
mod jupyter;
mod support;
mod tensorboard;
