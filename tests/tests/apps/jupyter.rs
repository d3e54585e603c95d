//! JupyterLab and Jupyter Notebook 7: started by the python runner's hook and by a
//! service-definition file as images ship it; a kernel runs code; the browser shows the app.

use std::path::Path;

use krunner_tests::{free_port, Options};
use serde_json::{json, Value};

use crate::support::{
    browse, config_file_of, config_under, have, have_chromium, processes_with, python_runner,
    run_in_kernel, service, shut_down_leaving_nothing, start, App,
};

/// One Jupyter app: its service name, its module, its main page, what its page carries, and
/// an element of its UI (a CSS selector) with what the browser must find in it.
struct Jupyter {
    name: &'static str,
    module: &'static str,
    page: &'static str,
    app_name: &'static str,
    ui: &'static str,
    ui_text: &'static str,
}

const LAB: Jupyter = Jupyter {
    name: "jupyterlab",
    module: "jupyterlab",
    page: "/lab",
    app_name: r#""appName": "JupyterLab""#,
    // The launcher in the main area, with a Python notebook to start.
    ui: "#jp-main-dock-panel .jp-Launcher",
    ui_text: "Python 3",
};

const NOTEBOOK: Jupyter = Jupyter {
    name: "jupyter",
    module: "notebook",
    page: "/tree",
    app_name: r#""appName": "Jupyter Notebook""#,
    // The file browser of Notebook 7's tree page, with its "New" button.
    ui: "#main-panel .jp-FileBrowser",
    ui_text: "New",
};

/// Starts `app`, checks its page over HTTP, runs code in a kernel, finds its UI in the
/// browser (saving a screenshot to `shot`), answers `running` to a second start, and leaves
/// nothing behind when shut down.
fn exercise(r: &App, app: &Jupyter, shot: Option<&Path>) {
    let port = free_port();
    let (reply, took) = start(r, service(app.name, port));
    assert_eq!(reply, json!({"status": "started"}), "log:\n{}", r.log());
    eprintln!("{}: started in {took:?}", app.name);

    // The reply came when the port opened: the app answers the proxy at once.
    let (status, page) = crate::support::proxied_get(port, app.page);
    assert!(status.contains(" 200 "), "{status}\n{page}");
    assert!(page.contains(app.app_name), "{page}");
    // No token: the page does not ask for one and carries none.
    assert!(page.contains(r#""token": """#), "{page}");
    assert!(
        page.contains("Content-Security-Policy: frame-ancestors * 'self'"),
        "{page}"
    );

    let (kernel, printed) = run_in_kernel(port, app.page, "print(6*7)");
    assert_eq!(printed, "42\n");
    let kernel_file = format!("kernel-{kernel}.json");
    assert_eq!(processes_with(&kernel_file).len(), 1, "the kernel runs");

    if have_chromium() {
        let seen = browse(
            &format!("http://127.0.0.1:{port}{}", app.page),
            app.ui,
            shot,
        );
        assert!(seen.contains(app.ui_text), "{seen}");
    }

    let (again, _) = start(r, service(app.name, port));
    assert_eq!(again, json!({"status": "running"}));
    check_older_versions(r, app, port);

    shut_down_leaving_nothing(r, app.name, port);
    assert!(
        processes_with(&kernel_file).is_empty(),
        "the kernel is gone"
    );
}

/// The file the hook wrote, as older releases of the app would read it: apps on Jupyter
/// Server get `ServerApp` options (the token through `IdentityProvider` from Jupyter Server 2
/// on), older apps `NotebookApp` options, and none gets the other's.
fn check_older_versions(r: &App, app: &Jupyter, port: u16) {
    let file = config_file_of(r.work.path(), app.module);
    let notebook = app.module == "notebook";
    let server2 = json!({
        app.module: if notebook { "7.2.0" } else { "4.2.0" },
        "jupyter_server": "2.14.0",
    });
    let server1 = json!({
        app.module: if notebook { "7.0.0" } else { "3.6.7" },
        "jupyter_server": "1.24.0",
    });
    // Before Jupyter Server; Notebook 6 even where Jupyter Server is installed beside it.
    let classic = json!({
        app.module: if notebook { "6.5.7" } else { "2.3.2" },
        "notebook": "6.5.7",
        "jupyter_server": "1.24.0",
    });
    let common = |section: &Value| {
        assert_eq!(section["ip"], "0.0.0.0", "{section}");
        assert_eq!(section["port"], port, "{section}");
        assert_eq!(section["port_retries"], 0, "{section}");
        assert_eq!(section["allow_root"], true, "{section}");
        assert_eq!(section["open_browser"], false, "{section}");
        assert_eq!(section["tornado_settings"]["ws_ping_interval"], 10000);
    };

    let c = config_under(&file, &server2);
    common(&c["ServerApp"]);
    assert_eq!(c["IdentityProvider"], json!({"token": ""}), "{c}");
    assert!(c["ServerApp"].get("token").is_none(), "{c}");
    assert!(c.get("NotebookApp").is_none(), "{c}");

    let c = config_under(&file, &server1);
    common(&c["ServerApp"]);
    assert_eq!(c["ServerApp"]["token"], "", "{c}");
    assert!(c.get("IdentityProvider").is_none(), "{c}");
    assert!(c.get("NotebookApp").is_none(), "{c}");

    let c = config_under(&file, &classic);
    common(&c["NotebookApp"]);
    assert_eq!(c["NotebookApp"]["token"], "", "{c}");
    assert!(c.get("ServerApp").is_none(), "{c}");
    assert!(c.get("IdentityProvider").is_none(), "{c}");
}

#[test]
fn jupyterlab_runs_code_and_shows_its_launcher() {
    if !have(LAB.module) {
        return;
    }
    let r = python_runner(&[], Options::default());
    // KRUNNER_SCREENSHOT=<file> keeps a picture of what the browser saw.
    let shot = std::env::var_os("KRUNNER_SCREENSHOT").map(std::path::PathBuf::from);
    exercise(&r, &LAB, shot.as_deref());
    assert_no_moved_options(&r);
}

#[test]
fn notebook_runs_code_and_shows_its_file_browser() {
    if !have(NOTEBOOK.module) {
        return;
    }
    let r = python_runner(&[], Options::default());
    exercise(&r, &NOTEBOOK, None);
    assert_no_moved_options(&r);
}

/// The configuration the hook writes uses today's option names: the app warns about none.
fn assert_no_moved_options(r: &App) {
    let log = r.log();
    for stale in ["has moved from NotebookApp", "config is deprecated"] {
        assert!(!log.contains(stale), "{stale}:\n{log}");
    }
}

/// `jupyterlab.json` as Backend.AI's python images ship it: a prestart action writes the
/// config (old and new option names), the command runs the module with it.
fn shipped_jupyterlab_json() -> String {
    let lines = [
        "c.NotebookApp.allow_root = True\n",
        "c.NotebookApp.ip = \"0.0.0.0\"\n",
        "c.NotebookApp.port = {ports[0]}\n",
        "c.NotebookApp.token = \"\"\n",
        "c.ServerApp.allow_root = True\n",
        "c.ServerApp.ip = \"0.0.0.0\"\n",
        "c.ServerApp.port = {ports[0]}\n",
        "c.ServerApp.token = \"\"\n",
        "c.ContentsManager.files_handler_class = None\n",
        "c.FileContentsManager.delete_to_trash = False\n",
        "c.NotebookApp.tornado_settings = {{'headers': {{'Content-Security-Policy': \"frame-ancestors * 'self' \"}}}}\n",
        "c.ServerApp.tornado_settings = {{'headers': {{'Content-Security-Policy': \"frame-ancestors * 'self' \"}}}}\n",
        "c.JupyterHub.tornado_settings = {{'headers': {{'Content-Security-Policy': \"frame-ancestors * 'self' \"}}}}\n",
    ];
    json!({
        "prestart": [{
            "action": "write_tempfile",
            "args": {"body": lines},
            "ref": "jupyter_cfg"
        }],
        "command": ["{runtime_path}", "-m", "jupyterlab", "--no-browser", "--config", "{jupyter_cfg}"]
    })
    .to_string()
}

#[test]
fn jupyterlab_from_a_shipped_service_definition_runs_code() {
    if !have(LAB.module) {
        return;
    }
    let r = python_runner(
        &[("jupyterlab", shipped_jupyterlab_json())],
        Options::default(),
    );
    let port = free_port();
    let (reply, _) = start(&r, service("jupyterlab", port));
    assert_eq!(reply, json!({"status": "started"}), "log:\n{}", r.log());
    let (status, page) = crate::support::proxied_get(port, LAB.page);
    assert!(status.contains(" 200 "), "{status}\n{page}");
    assert!(page.contains(LAB.app_name), "{page}");
    let (kernel, printed) = run_in_kernel(port, LAB.page, "print(6*7)");
    assert_eq!(printed, "42\n");
    let (again, _) = start(&r, service("jupyterlab", port));
    assert_eq!(again, json!({"status": "running"}));
    shut_down_leaving_nothing(&r, "jupyterlab", port);
    assert!(processes_with(&format!("kernel-{kernel}.json")).is_empty());
}
