//! The repl driver's record stream (`KIND LEN\n` + body), fed to `krunner_repl`'s parser at
//! once and in two halves: where both succeed they give the same records (runs of output
//! merged, as chunking may cut output anywhere).
#![no_main]

use krunner_repl::records::{Parser, Record};

/// The records with each run of `Out` records merged into one.
fn merged(records: Vec<Record>) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    for record in records {
        match (out.last_mut(), record) {
            (Some(Record::Out(prev)), Record::Out(more)) => prev.extend(more),
            (_, record) => out.push(record),
        }
    }
    out
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let whole = Parser::default().feed(data);
    let (a, b) = data.split_at(data.len() / 2);
    let mut parser = Parser::default();
    let halves = parser.feed(a).and_then(|mut first| {
        first.extend(parser.feed(b)?);
        Ok(first)
    });
    if let (Ok(whole), Ok(halves)) = (whole, halves) {
        assert_eq!(merged(whole), merged(halves));
    }
});
