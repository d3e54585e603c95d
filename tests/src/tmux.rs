//! [`Console`]: `krunner console` in a real terminal. A private tmux server runs it in a
//! pane; tests type with `send-keys` and read the screen with `capture-pane`, waiting for what
//! they expect under a deadline (never a fixed sleep).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::artifacts;

/// How long one expected screen may take to appear (generous: CI machines are noisy).
pub const SCREEN_DEADLINE: Duration = Duration::from_secs(60);

/// The console's prompt, as `capture-pane` shows it (trailing spaces trimmed).
const PROMPT: &str = ">>>";

/// Numbers the tmux servers this process starts.
static SERVERS: AtomicUsize = AtomicUsize::new(0);

/// A `krunner console` running in its own tmux server; killed when dropped.
pub struct Console {
    socket: PathBuf,
    /// The console's working directory (and, below it, `XDG_STATE_HOME`).
    pub dir: PathBuf,
    /// Where the history files go.
    pub state: PathBuf,
    _owned: Option<tempfile::TempDir>,
}

/// Whether tmux can be run.
pub fn tmux_present() -> bool {
    Command::new("tmux")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Console {
    /// Starts `krunner console <language>` in a fresh working directory and waits for its
    /// first prompt.
    pub fn start(language: &str) -> Self {
        let dir = tempfile::tempdir().expect("a working directory");
        let mut console = Self::start_in(language, dir.path());
        console._owned = Some(dir);
        console
    }

    /// Starts the console in `dir` (its history goes to `dir/state`).
    pub fn start_in(language: &str, dir: &Path) -> Self {
        let console = Self {
            // A server of its own, also for a console started again in the same directory
            // while the previous server may still be exiting.
            socket: dir.join(format!(
                "tmux-{}-{}.sock",
                std::process::id(),
                SERVERS.fetch_add(1, Ordering::Relaxed)
            )),
            dir: dir.to_path_buf(),
            state: dir.join("state"),
            _owned: None,
        };
        console.launch(language);
        console.wait_for_prompts(1);
        console
    }

    fn launch(&self, language: &str) {
        let art = artifacts();
        let mut line = format!(
            "env -u KRUNNER_PLUGIN_PATH XDG_STATE_HOME={} {} console",
            quote(&self.state),
            quote(&art.krunner)
        );
        for arg in art.plugin_dir_args(language) {
            line.push(' ');
            line.push_str(&quote(Path::new(&arg)));
        }
        line.push_str(&format!(" {language}; echo __EXIT=$?; sleep 600"));
        self.tmux(&[
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "50",
            "-c",
            &self.dir.display().to_string(),
            &line,
        ]);
    }

    /// Runs a tmux command against this console's server.
    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` literally (as bytes: tmux's command parser never sees it, so `;`, `{` and
    /// `}` are typed like any other character).
    pub fn type_text(&self, text: &str) {
        let hex: Vec<String> = text.bytes().map(|b| format!("{b:02x}")).collect();
        let mut args = vec!["send-keys", "-t", "0", "-H"];
        args.extend(hex.iter().map(String::as_str));
        self.tmux(&args);
    }

    /// Presses keys, in tmux's names (`Enter`, `C-c`, `M-Enter`, `Tab`, `Up`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend(keys);
        self.tmux(&args);
    }

    /// Pastes `text` as a terminal emulator does: in bracketed-paste markers when the
    /// program asked for them (`paste-buffer -p`), each line feed sent as a carriage return.
    pub fn paste(&self, text: &str) {
        self.tmux(&["set-buffer", "-b", "pasted", "--", text]);
        self.tmux(&["paste-buffer", "-p", "-d", "-b", "pasted", "-t", "0"]);
    }

    /// The whole screen, scrollback included, lines joined where they wrapped, without
    /// trailing spaces.
    pub fn screen(&self) -> String {
        let raw = self.tmux(&["capture-pane", "-p", "-J", "-S", "-2000", "-t", "0"]);
        let mut screen: String = raw.lines().map(|l| format!("{}\n", l.trim_end())).collect();
        screen.truncate(screen.trim_end().len());
        screen.push('\n');
        screen
    }

    /// The visible screen with its colours, as tmux writes them (SGR escape sequences).
    pub fn coloured_screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-e", "-t", "0"])
    }

    /// Waits until `check` accepts the screen; returns it. Panics with the screen after
    /// [`SCREEN_DEADLINE`].
    pub fn wait_until(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SCREEN_DEADLINE;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("waited {SCREEN_DEADLINE:?} for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Waits until the screen contains `needle`.
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?}"), |s| s.contains(needle))
    }

    /// How many prompts the screen shows now.
    pub fn prompt_count(&self) -> usize {
        prompts(&self.screen())
    }

    /// Waits until `n` prompts have been shown and the console waits at the last one.
    pub fn wait_for_prompts(&self, n: usize) -> String {
        self.wait_until(&format!("prompt number {n}"), |s| {
            prompts(s) >= n && last_line(s).trim_end() == PROMPT
        })
    }

    /// Types `text`, presses Enter, and waits for the next prompt; returns what was shown
    /// after the input (the input's own lines excluded).
    pub fn run(&self, text: &str) -> String {
        let before = prompts(&self.screen());
        self.type_text(text);
        self.keys(&["Enter"]);
        let screen = self.wait_for_prompts(before + 1);
        output_of_last_input(&screen)
    }

    /// The exit status the console ended with, once it has.
    pub fn exit_status(&self) -> String {
        let screen = self.wait_for("__EXIT=");
        screen
            .lines()
            .find_map(|l| l.strip_prefix("__EXIT="))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// How many prompts the screen shows.
pub fn prompts(screen: &str) -> usize {
    screen
        .lines()
        .filter(|l| l.trim_end() == PROMPT || l.starts_with(">>> "))
        .count()
}

/// The last line that is not empty.
pub fn last_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
}

/// The lines between the last input's prompt line (and its continuation lines, which are
/// indented or blank) and the prompt that followed.
fn output_of_last_input(screen: &str) -> String {
    let lines: Vec<&str> = screen.lines().collect();
    let prompt_lines: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim_end() == PROMPT || l.starts_with(">>> "))
        .map(|(i, _)| i)
        .collect();
    let [.., input, next] = prompt_lines[..] else {
        return String::new();
    };
    lines[input + 1..next]
        .iter()
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
