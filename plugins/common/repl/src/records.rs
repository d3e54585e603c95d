//! The interpreter driver's output framing: `KIND LEN\n` followed by `LEN` bytes, so user output of
//! any bytes and structured records (media, input requests, completion, done) share one pipe
//! without escaping.

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
    /// The driver is ready for commands.
    Ready,
}

/// The stream is not what the driver writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt(pub String);

/// The driver's first record. Anything before it (a wrapper script's banner, a site hook's
/// print) is startup noise, passed on as output.
const READY: &[u8] = b"ready 0\n";

/// Incremental parser.
#[derive(Default)]
pub struct Parser {
    buf: Vec<u8>,
    started: bool,
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

impl Parser {
    /// Adds bytes; returns the complete records they finish.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Record>, Corrupt> {
        self.buf.extend_from_slice(data);
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
        loop {
            let rest = &self.buf[start..];
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                if rest.len() > 64 {
                    return Err(Corrupt(format!(
                        "no record header in {:?}",
                        String::from_utf8_lossy(&rest[..64])
                    )));
                }
                break;
            };
            let header = std::str::from_utf8(&rest[..nl])
                .map_err(|_| Corrupt("record header is not text".into()))?;
            let (kind, len) = header
                .split_once(' ')
                .and_then(|(k, n)| Some((k, n.parse::<usize>().ok()?)))
                .ok_or_else(|| Corrupt(format!("bad record header {header:?}")))?;
            if rest.len() < nl + 1 + len {
                break;
            }
            let body = rest[nl + 1..nl + 1 + len].to_vec();
            out.push(decode(kind, body)?);
            start += nl + 1 + len;
        }
        self.buf.drain(..start);
        Ok(out)
    }
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
    fn garbage_is_reported() {
        assert!(Parser::default().feed(b"ready 0\nnonsense\n").is_err());
        assert!(Parser::default().feed(b"ready 0\nzzz 1\nx").is_err());
    }
}
