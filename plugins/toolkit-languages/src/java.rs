//! The `java` runner.
//!
//! - `build *`: every `.java` file below the session directory (sorted, one argument each)
//!   compiled with `javac -d .`. The original runner passed JVM flags that JDK 10 removed, so
//!   its builds failed on any current JDK; they are gone.
//! - `exec *`: `main/Main.class` → `java main.Main`; `Main.class` → `java Main`.
//! - `code`: the snippet is saved as `<Class>.java`, named after its first public class (or
//!   first class), compiled in a private temporary directory and run from the session
//!   directory with that directory on the class path.
//!
//! `runtime_path` may name either `java` or `javac`; the other is taken from the same
//! directory. `$JAVA_HOME/bin` goes in front of `PATH`. Unlike the original runner, the child
//! environment is extended, not replaced, so `environ.txt` keeps working.

use std::path::Path;

use krunner_plugin_api::sdk::{HostHandle, Kernel, Result, TempDir};
use krunner_plugin_api::util::find_sources;
use krunner_plugin_api::{capability, PluginInfo, RunnerConfig, Sample};
use krunner_toolkit::{first_file, standard_samples, Lang};

/// The plugin.
pub struct JavaKernel {
    lang: Lang,
}

impl JavaKernel {
    /// `java` or `javac`: next to the runtime path when one was given, else on `PATH`.
    fn tool(&self, name: &str) -> std::result::Result<String, i32> {
        if let Some(rt) = &self.lang.runtime_path {
            if self.lang.which(rt).is_none() {
                return Err(self.lang.missing_tool(rt));
            }
        }
        self.lang
            .sibling(name)
            .ok_or_else(|| self.lang.missing_tool(name))
    }

    fn class_path(&self, dir: &str) -> String {
        match self.lang.host.child_env().get("CLASSPATH") {
            Some(cp) if !cp.is_empty() => format!("{dir}:{cp}"),
            _ => dir.to_owned(),
        }
    }
}

/// The class a snippet defines: `(package, class)` from its `package` line and first public
/// class (else first class; else `Main`).
pub fn main_class(code: &str) -> (Option<String>, String) {
    fn ident_after<'a>(text: &'a str, keyword: &str) -> Option<&'a str> {
        let rest = text.trim_start().strip_prefix(keyword)?;
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        let rest = rest.trim_start();
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$' || c == '.'))
            .unwrap_or(rest.len());
        (end > 0).then(|| &rest[..end])
    }
    let mut package = None;
    let mut public = None;
    let mut first = None;
    for line in code.lines() {
        let line = line.trim();
        if package.is_none() {
            package = ident_after(line, "package").map(str::to_owned);
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(pos) = words.iter().position(|w| *w == "class") {
            let modifiers = &words[..pos];
            let known = ["public", "final", "abstract", "static", "strictfp"];
            if modifiers.iter().all(|m| known.contains(m)) {
                let rest = words[pos..].join(" ");
                if let Some(name) = ident_after(&rest, "class") {
                    if modifiers.contains(&"public") && public.is_none() {
                        public = Some(name.to_owned());
                    }
                    if first.is_none() {
                        first = Some(name.to_owned());
                    }
                }
            }
        }
    }
    (package, public.or(first).unwrap_or_else(|| "Main".into()))
}

impl Kernel for JavaKernel {
    fn info() -> PluginInfo {
        PluginInfo {
            language: "java".into(),
            plugin_version: env!("CARGO_PKG_VERSION").into(),
            capabilities: vec![capability::BATCH.into(), capability::QUERY.into()],
            description: "Java: javac every *.java, run Main; snippets compiled privately".into(),
            default_runtime: Some("javac".into()),
            ..PluginInfo::default()
        }
    }

    fn new(config: RunnerConfig, host: HostHandle) -> Result<Self> {
        let mut lang = Lang::new(host, config.runtime_path);
        if let Some(home) = lang.host.child_env().get("JAVA_HOME") {
            let bin = Path::new(home).join("bin");
            if bin.is_dir() {
                lang.prepend_path(&bin.to_string_lossy());
            }
        }
        Ok(Self { lang })
    }

    fn build(&self) -> Result<i32> {
        let sources = find_sources(Path::new("."), "java");
        if sources.is_empty() {
            return Ok(self.lang.missing_file("Java sources", &["**/*.java"]));
        }
        let javac = match self.tool("javac") {
            Ok(j) => j,
            Err(code) => return Ok(code),
        };
        let mut argv = vec![
            javac,
            "-encoding".into(),
            "UTF-8".into(),
            "-d".into(),
            ".".into(),
        ];
        argv.extend(sources.iter().map(|s| s.to_string_lossy().into_owned()));
        self.lang.run(argv)
    }

    fn execute(&self) -> Result<i32> {
        let files = ["main/Main.class", "Main.class"];
        let Some(found) = first_file(&files) else {
            return Ok(self
                .lang
                .missing_file("compiled main class (build first)", &files));
        };
        let java = match self.tool("java") {
            Ok(j) => j,
            Err(code) => return Ok(code),
        };
        let class = if found == "Main.class" {
            "Main"
        } else {
            "main.Main"
        };
        self.lang
            .run([java, "-cp".into(), self.class_path("."), class.into()])
    }

    fn query(&self, code: &str) -> Result<i32> {
        let (javac, java) = match (self.tool("javac"), self.tool("java")) {
            (Ok(c), Ok(j)) => (c, j),
            (Err(code), _) | (_, Err(code)) => return Ok(code),
        };
        let (package, class) = main_class(code);
        let dir = TempDir::new("java")?;
        let source = dir.path().join(format!("{class}.java"));
        std::fs::write(&source, code)?;
        let out = dir.path().join("classes");
        std::fs::create_dir(&out)?;
        let out = out.to_string_lossy().into_owned();
        let status = self.lang.run([
            javac,
            "-encoding".into(),
            "UTF-8".into(),
            "-d".into(),
            out.clone(),
            source.to_string_lossy().into_owned(),
        ])?;
        if status != 0 || self.lang.host.interrupted() {
            return Ok(status);
        }
        let qualified = match package {
            Some(p) => format!("{p}.{class}"),
            None => class,
        };
        self.lang
            .run([java, "-cp".into(), self.class_path(&out), qualified])
    }

    fn samples() -> Vec<Sample> {
        let mut samples = standard_samples(
            "Main.java",
            "public class Main {\n    public static void main(String[] args) {\n        System.out.println(\"hello, world\");\n    }\n}\n",
            "class Exit {\n    public static void main(String[] args) {\n        System.exit(3);\n    }\n}\n",
            "javac",
        );
        samples.push(Sample {
            name: "package-main".into(),
            files: [(
                "main/Main.java".to_owned(),
                "package main;\n\npublic class Main {\n    public static void main(String[] args) {\n        System.out.println(\"hello, world\");\n    }\n}\n"
                    .to_owned(),
            )]
            .into(),
            build: Some("*".into()),
            exec: Some("*".into()),
            expect_stdout: Some("hello, world\n".into()),
            requires: Some("javac".into()),
            ..Sample::default()
        });
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::main_class;

    #[test]
    fn class_names() {
        assert_eq!(
            main_class("import x;\npublic class Hello {\n}"),
            (None, "Hello".into())
        );
        assert_eq!(
            main_class("class Helper {}\npublic final class App{}"),
            (None, "App".into())
        );
        assert_eq!(main_class("class Only {}"), (None, "Only".into()));
        assert_eq!(
            main_class("package a.b;\npublic class C {}"),
            (Some("a.b".into()), "C".into())
        );
        assert_eq!(main_class("// class in a comment\n"), (None, "Main".into()));
    }
}
