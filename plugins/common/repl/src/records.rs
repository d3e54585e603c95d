//! The interpreter driver's output framing: `KIND LEN\n` followed by `LEN` bytes, so user output of
//! any bytes and structured records (media, input requests, completion, done) share one pipe
//! without escaping.
//!
//! The stream comes from a process that runs user code, which can write anything to it. So the
//! parser trusts nothing: a header is at most [`MAX_HEADER`] bytes and names a known kind, and
//! a body is at most [`MAX_RECORD`] bytes (the drivers split user output into smaller records),
//! so it never buffers more than one record and no length can overflow. Anything else is
//! [`Corrupt`]; the caller then restarts the interpreter.

use krunner_plugin_api::IsCompleteReply;
use serde::Deserialize;

/// One record from the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// User stdout bytes.
    Out(Vec<u8>),
    /// User stderr bytes.
    Err(Vec<u8>),
    /// A media JSON object.
    Media(Vec<u8>),
    /// HTML text.
    Html(Vec<u8>),
    /// `input()` / `getpass()` was called.
    Input {
        /// The prompt.
        prompt: String,
        /// Whether to hide the answer.
        password: bool,
    },
    /// A query finished.
    Done {
        /// Its exit code.
        exit: i32,
    },
    /// Completion results.
    Completion {
        /// Request id.
        id: u64,
        /// Suggestions.
        suggestions: Vec<String>,
    },
    /// The answer to an `is-complete` command.
    IsComplete {
        /// Request id.
        id: u64,
        /// The verdict.
        reply: IsCompleteReply,
    },
    /// The driver is ready for commands.
    Ready,
}

/// The stream is not what the driver writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt(pub String);

/// The largest record body accepted (64 MiB). Drivers send user output in pieces of at most
/// 1 MiB and refuse larger rich output themselves, so only a corrupt stream reaches it.
pub const MAX_RECORD: usize = 64 << 20;

/// The longest record header (`KIND LEN\n`, without the newline).
pub const MAX_HEADER: usize = 32;

/// The record kinds a driver sends.
const KINDS: [&str; 9] = [
    "out",
    "err",
    "media",
    "html",
    "input",
    "done",
    "completion",
    "is-complete",
    "ready",
];

/// The driver's first record. Anything before it (a wrapper script's banner, a site hook's
/// print) is startup noise, passed on as output.
const READY: &[u8] = b"ready 0\n";

/// Incremental parser.
#[derive(Default)]
pub struct Parser {
    buf: Vec<u8>,
    started: bool,
    /// Set by the first corrupt record: nothing after it can be trusted or is kept.
    broken: bool,
}

#[derive(Deserialize)]
struct InputBody {
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    password: bool,
}

#[derive(Deserialize)]
struct DoneBody {
    #[serde(default)]
    exit: i32,
}

#[derive(Deserialize)]
struct CompletionBody {
    #[serde(default)]
    id: u64,
    #[serde(default)]
    suggestions: Vec<String>,
}

#[derive(Deserialize)]
struct IsCompleteBody {
    #[serde(default)]
    id: u64,
    #[serde(flatten)]
    reply: IsCompleteReply,
}

impl Parser {
    /// Adds bytes; returns the complete records they finish, or why the stream is corrupt
    /// (from then on, every call fails).
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Record>, Corrupt> {
        if self.broken {
            return Err(Corrupt("the stream was corrupt before".into()));
        }
        self.buf.extend_from_slice(data);
        let records = self.records();
        if records.is_err() {
            self.broken = true;
            self.buf = Vec::new();
        }
        records
    }

    fn records(&mut self) -> Result<Vec<Record>, Corrupt> {
        let mut out = Vec::new();
        if !self.started {
            match self.buf.windows(READY.len()).position(|w| w == READY) {
                Some(at) => {
                    if at > 0 {
                        out.push(Record::Out(self.buf[..at].to_vec()));
                    }
                    self.buf.drain(..at);
                    self.started = true;
                }
                None => {
                    // Pass on what cannot be the start of the ready record.
                    let keep = READY.len().saturating_sub(1).min(self.buf.len());
                    let noise: Vec<u8> = self.buf.drain(..self.buf.len() - keep).collect();
                    if !noise.is_empty() {
                        out.push(Record::Out(noise));
                    }
                    return Ok(out);
                }
            }
        }
        let mut start = 0;
        while let Some((kind, body)) = next_record(&self.buf[start..])? {
            let end = body.end;
            out.push(decode(
                kind,
                self.buf[start + body.start..start + end].to_vec(),
            )?);
            start += end;
        }
        self.buf.drain(..start);
        Ok(out)
    }
}

/// The kind and the body's range of the complete record at the start of `rest`; `None` when
/// it is not complete yet.
fn next_record(rest: &[u8]) -> Result<Option<(&'static str, std::ops::Range<usize>)>, Corrupt> {
    let Some(nl) = rest.iter().take(MAX_HEADER + 1).position(|&b| b == b'\n') else {
        if rest.len() > MAX_HEADER {
            return Err(Corrupt(format!(
                "no record header in {:?}",
                String::from_utf8_lossy(&rest[..MAX_HEADER])
            )));
        }
        return Ok(None);
    };
    let header = std::str::from_utf8(&rest[..nl])
        .map_err(|_| Corrupt("record header is not text".into()))?;
    let (kind, len) = header
        .split_once(' ')
        .and_then(|(k, n)| Some((k, n.parse::<usize>().ok()?)))
        .ok_or_else(|| Corrupt(format!("bad record header {header:?}")))?;
    let Some(kind) = KINDS.iter().copied().find(|k| *k == kind) else {
        return Err(Corrupt(format!("unknown record kind {kind:?}")));
    };
    if len > MAX_RECORD {
        return Err(Corrupt(format!(
            "a {kind} record of {len} bytes (the limit is {MAX_RECORD})"
        )));
    }
    let body = nl + 1..nl + 1 + len;
    Ok((rest.len() >= body.end).then_some((kind, body)))
}

fn decode(kind: &str, body: Vec<u8>) -> Result<Record, Corrupt> {
    let json_err = |e: serde_json::Error| Corrupt(format!("bad {kind} record: {e}"));
    Ok(match kind {
        "out" => Record::Out(body),
        "err" => Record::Err(body),
        "media" => Record::Media(body),
        "html" => Record::Html(body),
        "input" => {
            let b: InputBody = serde_json::from_slice(&body).map_err(json_err)?;
            Record::Input {
                prompt: b.prompt,
                password: b.password,
            }
        }
        "done" => {
            let b: DoneBody = serde_json::from_slice(&body).map_err(json_err)?;
            Record::Done { exit: b.exit }
        }
        "completion" => {
            let b: CompletionBody = serde_json::from_slice(&body).map_err(json_err)?;
            Record::Completion {
                id: b.id,
                suggestions: b.suggestions,
            }
        }
        "is-complete" => {
            let b: IsCompleteBody = serde_json::from_slice(&body).map_err(json_err)?;
            Record::IsComplete {
                id: b.id,
                reply: b.reply,
            }
        }
        "ready" => Record::Ready,
        other => return Err(Corrupt(format!("unknown record kind {other:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_split_anywhere_are_reassembled() {
        let stream = b"ready 0\nout 6\nhe\nlo\xffdone 10\n{\"exit\":3}ready 0\n";
        let expected = vec![
            Record::Ready,
            Record::Out(b"he\nlo\xff".to_vec()),
            Record::Done { exit: 3 },
            Record::Ready,
        ];
        for cut in 0..stream.len() {
            let mut p = Parser::default();
            let mut got = p.feed(&stream[..cut]).expect("first part");
            got.extend(p.feed(&stream[cut..]).expect("second part"));
            assert_eq!(got, expected, "cut at {cut}");
        }
    }

    #[test]
    fn startup_noise_is_output() {
        let stream = b"banner\nready 0\nout 1\nx";
        for cut in 0..stream.len() {
            let mut p = Parser::default();
            let mut got = p.feed(&stream[..cut]).expect("first part");
            got.extend(p.feed(&stream[cut..]).expect("second part"));
            let noise: Vec<u8> = got
                .iter()
                .take_while(|r| **r != Record::Ready)
                .flat_map(|r| match r {
                    Record::Out(b) => b.clone(),
                    _ => Vec::new(),
                })
                .collect();
            assert_eq!(noise, b"banner\n", "cut at {cut}");
            assert_eq!(
                got.last(),
                Some(&Record::Out(b"x".to_vec())),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn is_complete_answers() {
        let body = br#"{"id":7,"status":"incomplete","indent":"    "}"#;
        let mut stream = b"ready 0\n".to_vec();
        stream.extend(format!("is-complete {}\n", body.len()).as_bytes());
        stream.extend(body);
        let got = Parser::default().feed(&stream).expect("records");
        assert_eq!(
            got,
            vec![
                Record::Ready,
                Record::IsComplete {
                    id: 7,
                    reply: IsCompleteReply::incomplete("    ")
                }
            ]
        );
    }

    #[test]
    fn garbage_is_reported() {
        assert!(Parser::default().feed(b"ready 0\nnonsense\n").is_err());
        assert!(Parser::default().feed(b"ready 0\nzzz 1\nx").is_err());
    }

    /// Lengths that would overflow or exceed the limit, unknown kinds and endless headers are
    /// refused as soon as their header is read, never waited for or panicked on.
    #[test]
    fn hostile_headers_are_refused_at_once() {
        let hostile: [&[u8]; 7] = [
            b"out 18446744073709551615\n",
            b"out 18446744073709551616\n",
            b"media 67108865\n",
            b"out -1\n",
            b"zzz 1\n",
            b"out 00000000000000000000000000000000001\n",
            b"outoutoutoutoutoutoutoutoutoutoutoutout",
        ];
        for header in hostile {
            let mut p = Parser::default();
            p.feed(b"ready 0\n").expect("ready");
            assert!(
                p.feed(header).is_err(),
                "{:?} was accepted",
                String::from_utf8_lossy(header)
            );
        }
        // The limit itself is fine: the parser waits for the body.
        let mut p = Parser::default();
        p.feed(b"ready 0\n").expect("ready");
        assert_eq!(p.feed(format!("out {MAX_RECORD}\n").as_bytes()), Ok(vec![]));
    }
}
