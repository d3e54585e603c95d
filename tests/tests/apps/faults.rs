//! Apps that cannot start: not installed, or rejecting their configuration. The reply says
//! why, from what the app printed, as soon as it exits.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use krunner_tests::{free_port, Options};
use serde_json::json;

use crate::support::{have, python_runner, service, start};

/// A Python that sees no site-packages, as in an image without the apps.
fn bare_python(dir: &std::path::Path) -> String {
    let path = dir.join("bare-python");
    std::fs::write(&path, "#!/bin/sh\nexec python3 -S \"$@\"\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[test]
fn an_app_that_is_not_installed_is_named_at_once() {
    let bin = tempfile::tempdir().unwrap();
    let r = python_runner(
        &[],
        Options {
            runtime_path: Some(bare_python(bin.path())),
            ..Options::default()
        },
    );
    for (name, module) in [
        ("jupyterlab", "jupyterlab"),
        ("jupyter", "notebook"),
        ("tensorboard", "tensorboard"),
    ] {
        let (reply, took) = start(&r, service(name, free_port()));
        assert_eq!(reply["status"], "failed", "{reply}");
        let error = reply["error"].as_str().unwrap();
        assert!(
            error.starts_with(&format!(
                "the service exited with exit code 1 before opening its port: {name}; \
                 its last output:\n"
            )),
            "{error}"
        );
        // Python's own words: `No module named jupyterlab`, or for a submodule
        // `... (ModuleNotFoundError: No module named 'tensorboard')`.
        assert!(
            error.contains(&format!("No module named {module}"))
                || error.contains(&format!("No module named '{module}'")),
            "{error}"
        );
        eprintln!("{name}: failed in {took:?}");
        // Not the 30 s port wait: at once (measured well under 0.5 s; the margin is for a
        // loaded machine).
        assert!(took < Duration::from_secs(2), "{name} took {took:?}");
    }
}

#[test]
fn an_app_that_rejects_its_configuration_shows_why() {
    if !have("jupyterlab") {
        return;
    }
    let def = json!({
        "command": ["{runtime_path}", "-m", "jupyterlab", "--no-browser",
                    "--ServerApp.port=not-a-port"]
    });
    let r = python_runner(&[("jupyterlab", def.to_string())], Options::default());
    let (reply, took) = start(&r, service("jupyterlab", free_port()));
    assert_eq!(reply["status"], "failed", "{reply}");
    let error = reply["error"].as_str().unwrap();
    assert!(
        error.starts_with(
            "the service exited with exit code 1 before opening its port: jupyterlab; \
             its last output:\n"
        ),
        "{error}"
    );
    assert!(
        error.contains(
            "Bad config encountered during initialization: The 'port' trait of a ServerApp \
             instance expected an int, not the str 'not-a-port'."
        ),
        "{error}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
}
