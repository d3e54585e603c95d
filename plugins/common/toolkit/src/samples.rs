//! The self-tests every language plugin declares, in one place so that `krunner plugins test`
//! checks every language the same way.

use krunner_plugin_api::Sample;

use crate::lang::NOT_FOUND;

/// The self-tests every language plugin declares: `hello` as `main_file` built and run with
/// the `*` heuristics, `hello` as a snippet, `exit3` as a snippet (its exit status 3 must come
/// through), and `exec *` without a main file (127). The first three need `requires`.
pub fn standard_samples(main_file: &str, hello: &str, exit3: &str, requires: &str) -> Vec<Sample> {
    let requires = Some(requires.to_owned());
    let expect = Some("hello, world\n".to_owned());
    vec![
        Sample {
            name: "hello-batch".into(),
            files: [(main_file.to_owned(), hello.to_owned())].into(),
            build: Some("*".into()),
            exec: Some("*".into()),
            expect_stdout: expect.clone(),
            requires: requires.clone(),
            ..Sample::default()
        },
        Sample {
            name: "hello-query".into(),
            code: Some(hello.to_owned()),
            expect_stdout: expect,
            requires: requires.clone(),
            ..Sample::default()
        },
        Sample {
            name: "exit-code".into(),
            code: Some(exit3.to_owned()),
            expect_exit: 3,
            requires,
            ..Sample::default()
        },
        Sample {
            name: "missing-main-file".into(),
            exec: Some("*".into()),
            expect_stdout: Some(String::new()),
            expect_exit: NOT_FOUND,
            ..Sample::default()
        },
    ]
}
