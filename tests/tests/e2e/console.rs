//! `krunner console` in a real terminal (tmux): state, multi-line input, completion,
//! interrupts, input requests, rich output, history, exit, for python, nodejs and c.

use std::time::Duration;

use krunner_tests::tmux::{prompts, tmux_present, Console};
use krunner_tests::{artifacts, pty, python_has, require};

/// Whether tmux and python3 are there (the test is skipped, or fails in CI, otherwise).
fn python_ready() -> bool {
    let present = std::process::Command::new("python3")
        .arg("-V")
        .output()
        .is_ok();
    require("tmux", tmux_present()) && require("python3", present)
}

fn python_console() -> Option<Console> {
    python_ready().then(|| Console::start("python"))
}

#[test]
fn python_keeps_state_runs_multi_line_defs_and_completes_live_names() {
    let Some(c) = python_console() else { return };
    assert_eq!(c.run("x = 40"), "");
    // Enter after `def` opens a line indented by the runner's answer; Enter after the body
    // opens another, and that blank line ends the definition.
    let before = c.prompt_count();
    c.type_text("def f(y):");
    c.keys(&["Enter"]);
    c.type_text("return x + y");
    c.wait_for(">>> def f(y):\n    return x + y");
    c.keys(&["Enter", "Enter"]);
    c.wait_for_prompts(before + 1);
    assert_eq!(c.run("f(2)"), "42");
    // Tab completes a variable that only the live namespace knows.
    c.run("my_long_variable = 7");
    c.type_text("my_long_v");
    c.keys(&["Tab"]);
    c.wait_for(">>> my_long_variable");
    assert_eq!(c.run(" + 100"), "107");
    // The inputs can be saved, and loaded into a fresh runner.
    c.run(":save inputs.py");
    let saved = std::fs::read_to_string(c.dir.join("inputs.py")).unwrap();
    assert!(saved.contains("def f(y):\n    return x + y\n\n"), "{saved}");
    assert!(c.run(":reset").contains("restarted"));
    assert!(c.run("f(2)").contains("NameError"));
    c.run(":load inputs.py");
    assert_eq!(c.run("f(2) + my_long_variable"), "49");
}

#[test]
fn a_pasted_block_is_inserted_whole_and_runs_at_enter() {
    let Some(c) = python_console() else { return };
    // Pasted line by line, the first line alone would run at its line break.
    c.paste("pasted_a = 5\nif pasted_a:\n    pasted_b = pasted_a * 2\n");
    let screen = c.wait_for(">>> pasted_a = 5\nif pasted_a:\n    pasted_b = pasted_a * 2");
    assert_eq!(prompts(&screen), 1, "{screen}");
    c.keys(&["Enter"]);
    c.wait_for_prompts(2);
    assert_eq!(c.run("pasted_b"), "10");
}

#[test]
fn ctrl_c_interrupts_a_snippet_and_keeps_the_state_and_clears_the_prompt() {
    let Some(c) = python_console() else { return };
    c.run("kept = 'still here'");
    let before = c.prompt_count();
    c.type_text("import time; print('sleeping', flush=True); time.sleep(100)");
    c.keys(&["Enter"]);
    // Interrupt once the snippet runs (its first output is there).
    c.wait_for("\nsleeping\n");
    c.keys(&["C-c"]);
    let interrupted = c.wait_for_prompts(before + 1);
    assert!(interrupted.contains("KeyboardInterrupt"), "{interrupted}");
    assert!(interrupted.contains("[exit 130]"), "{interrupted}");
    assert_eq!(c.run("kept"), "'still here'");
    // At the prompt, Ctrl-C clears the line.
    let before = c.prompt_count();
    c.type_text("this is not run");
    c.keys(&["C-c"]);
    c.wait_for_prompts(before + 1);
    assert_eq!(c.run("1 + 1"), "2");
    assert!(!c.screen().contains("NameError"));
}

#[test]
fn input_shows_its_prompt_and_getpass_does_not_echo() {
    let Some(c) = python_console() else { return };
    let before = c.prompt_count();
    c.type_text("name = input('your name? ')");
    c.keys(&["Enter"]);
    c.wait_for("\nyour name?");
    c.type_text("Ada");
    c.keys(&["Enter"]);
    c.wait_for_prompts(before + 1);
    assert!(c.screen().contains("\nyour name? Ada\n"), "{}", c.screen());
    c.type_text("import getpass; pw = getpass.getpass('secret? ')");
    c.keys(&["Enter"]);
    c.wait_for("\nsecret?");
    c.type_text("hunter2");
    c.keys(&["Enter"]);
    c.wait_for_prompts(before + 2);
    assert_eq!(c.run("print(name, len(pw))"), "Ada 7");
    assert!(!c.screen().contains("hunter2"), "{}", c.screen());
    // While the snippet waits for input, Tab completes from its live namespace.
    c.run("answer_value = 1");
    let before = c.prompt_count();
    c.type_text("again = input('again? ')");
    c.keys(&["Enter"]);
    c.wait_for("\nagain?");
    c.type_text("answer_v");
    c.keys(&["Tab"]);
    c.wait_for("\nagain? answer_value");
    c.keys(&["Enter"]);
    c.wait_for_prompts(before + 1);
    assert_eq!(c.run("again"), "'answer_value'");
}

#[test]
fn a_matplotlib_plot_is_saved_and_a_data_frame_is_a_table() {
    if !require("matplotlib", python_has("matplotlib")) || !require("pandas", python_has("pandas"))
    {
        return;
    }
    let Some(c) = python_console() else { return };
    let out = c.run("import matplotlib.pyplot as plt; plt.plot([1, 3, 2]); plt.show()");
    let path = out
        .lines()
        .find_map(|l| l.strip_prefix("[image saved to "))
        .and_then(|l| l.strip_suffix(']'))
        .unwrap_or_else(|| panic!("no saved image in {out:?}"));
    let svg = std::fs::read_to_string(path).unwrap();
    assert!(svg.contains("<svg"), "{svg:.200}");
    let out = c.run("import pandas as pd; pd.DataFrame({'alpha': [1, 2], 'beta': ['x', 'y']})");
    let header = out
        .lines()
        .find(|l| l.contains("alpha"))
        .unwrap_or_else(|| panic!("no table in {out:?}"));
    assert!(header.contains("beta") && header.contains('│'), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains('1') && l.contains('x') && l.contains('│')),
        "{out}"
    );
    let html = out
        .lines()
        .find_map(|l| l.strip_prefix("[html saved to "))
        .and_then(|l| l.strip_suffix(']'))
        .unwrap_or_else(|| panic!("no saved page in {out:?}"));
    assert!(std::fs::read_to_string(html).unwrap().contains("<table"));
}

#[test]
fn history_is_recalled_after_a_restart_and_ctrl_d_exits_with_0() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let first = Console::start_in("python", dir.path());
    first.run("remembered_value = 1234");
    first.keys(&["C-d"]);
    assert_eq!(first.exit_status(), "0");
    drop(first);
    let history = std::fs::read_to_string(dir.path().join("state/krunner/history-python")).unwrap();
    assert!(history.contains("remembered_value = 1234"), "{history}");
    let again = Console::start_in("python", dir.path());
    again.keys(&["Up"]);
    again.wait_for(">>> remembered_value = 1234");
}

#[test]
fn a_nodejs_session() {
    let present = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok();
    if !require("tmux", tmux_present()) || !require("node", present) {
        return;
    }
    let c = Console::start("nodejs");
    c.type_text("function twice(a) {");
    c.keys(&["Enter"]);
    c.type_text("return 2 * a");
    c.keys(&["Enter"]);
    c.type_text("}");
    c.keys(&["Enter"]);
    c.wait_for_prompts(2);
    assert!(c
        .screen()
        .contains(">>> function twice(a) {\n  return 2 * a\n  }"));
    assert_eq!(c.run("twice(21)"), "42");
    c.type_text("console.log('hello', await input('who? '))");
    c.keys(&["Enter"]);
    c.wait_for("who? ");
    c.type_text("Bob");
    c.keys(&["Enter"]);
    c.wait_for("hello Bob");
    assert!(c.run("undefinedThing").contains("ReferenceError"));
    assert!(c.screen().contains("[exit 1]"));
    // stderr is red on a terminal, stdout is not.
    c.run("console.error('to stderr'); console.log('to stdout')");
    let coloured = c.coloured_screen();
    assert!(coloured.contains("\x1b[31mto stderr"), "{coloured:?}");
    assert!(
        coloured.contains("to stdout") && !coloured.contains("\x1b[31mto stdout"),
        "{coloured:?}"
    );
}

#[test]
fn c_snippets_end_at_a_blank_line_and_show_their_exit_code() {
    if !require("tmux", tmux_present()) {
        return;
    }
    let c = Console::start("c");
    c.type_text("#include <stdio.h>");
    c.keys(&["Enter"]);
    c.type_text("int main(void) { puts(\"hi from c\"); return 3; }");
    c.keys(&["Enter"]);
    // The c runner cannot tell whether a snippet is complete: Enter opens another line, and
    // a blank line runs it.
    c.type_text("/* end */");
    c.wait_for("return 3; }\n/* end */");
    c.keys(&["Enter", "Enter"]);
    let screen = c.wait_for_prompts(2);
    assert!(
        screen.contains("return 3; }\n/* end */\n\nhi from c\n[exit 3]"),
        "{screen}"
    );
}

/// Startup to the first prompt, for the c plugin (the README's number):
/// `cargo test -p krunner-tests --release --test e2e -- --ignored --nocapture measure_console`.
#[test]
#[ignore]
fn measure_console_startup() {
    let mut times: Vec<Duration> = (0..20)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            let mut cmd = std::process::Command::new(&artifacts().krunner);
            cmd.arg("console")
                .args(artifacts().plugin_dir_args("c"))
                .arg("c")
                .current_dir(dir.path())
                .env("XDG_STATE_HOME", dir.path())
                .env_remove("KRUNNER_PLUGIN_PATH");
            pty::time_to_prompt(cmd, ">>> ", Duration::from_secs(30))
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "krunner console c, start to first prompt (20 runs): min {:.1} ms, median {:.1} ms, \
         max {:.1} ms",
        ms(times[0]),
        ms(times[10]),
        ms(times[19])
    );
}
