//! The runner's input queue as the soak follows it (docs/protocol.md §2.5, §5.5): inputs
//! are numbered as they are sent (`in-0`, `in-1`, ...) and each read takes the oldest one.
//! A reader that was cut short may or may not have taken one before it died; the next
//! complete read (`got in-N`) says which, and must be the oldest that can still be queued.

/// The input queue.
#[derive(Debug, Default)]
pub struct Inputs {
    /// The number of the next input to send.
    next: u64,
    /// The oldest input that can still be queued.
    oldest: u64,
    /// How many after `oldest` readers that were cut short may have taken.
    unsure: u64,
}

impl Inputs {
    /// The text of a new input.
    pub fn token(&mut self) -> String {
        let t = format!("in-{}", self.next);
        self.next += 1;
        t
    }

    /// Inputs sent that may still be queued, at most.
    pub fn queued(&self) -> u64 {
        self.next - self.oldest
    }

    /// Checks what a reader printed (`got in-N\n`, or nothing when it was cut short).
    pub fn read(&mut self, stdout: &[u8], cut: bool) -> Result<(), String> {
        if stdout.is_empty() && cut {
            self.unsure = (self.unsure + 1).min(self.queued());
            return Ok(());
        }
        let n: Option<u64> = std::str::from_utf8(stdout)
            .ok()
            .and_then(|s| s.strip_prefix("got in-")?.strip_suffix('\n')?.parse().ok());
        let Some(n) = n else {
            return Err(format!(
                "the reader printed {:?}",
                String::from_utf8_lossy(stdout)
            ));
        };
        if n < self.oldest || n > self.oldest + self.unsure || n >= self.next {
            return Err(format!(
                "the reader got in-{n}, but the oldest queued input is in-{} (or up to {} \
                 later after readers that were cut short; {} sent)",
                self.oldest, self.unsure, self.next
            ));
        }
        self.oldest = n + 1;
        self.unsure = 0;
        Ok(())
    }
}

#[test]
fn reads_follow_the_queue() {
    let mut q = Inputs::default();
    let (a, b, c) = (q.token(), q.token(), q.token());
    assert_eq!((a.as_str(), c.as_str()), ("in-0", "in-2"));
    assert!(q.read(b"got in-1\n", false).is_err());
    q.read(b"got in-0\n", false).unwrap();
    // A reader cut short may have taken in-1.
    q.read(b"", true).unwrap();
    q.read(b"got in-2\n", false).unwrap();
    assert!(q.read(b"got in-2\n", false).is_err());
    assert!(q.read(b"", false).is_err());
    drop(b);
}
