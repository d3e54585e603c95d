//! The reply to `status` is the one msgpack payload of the protocol (docs/protocol.md §3.6):
//! a map with exactly one entry, `started_at` → float64 seconds on the runner's monotonic clock.
//! The agent decodes it strictly, so the check here is exact and says what is wrong.

/// How a `status` payload differs from `{"started_at": <float64>}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatusError {
    /// The payload does not start with a msgpack map.
    #[error("expected a msgpack map: {0}")]
    NotAMap(String),
    /// The map does not have exactly one entry.
    #[error("expected a map of one entry, found {0} entries")]
    Entries(u32),
    /// The key is not a short string.
    #[error("expected the string key `started_at`: {0}")]
    KeyNotString(String),
    /// The key is another string.
    #[error("expected the key `started_at`, found {0:?}")]
    WrongKey(String),
    /// The value is not a float64.
    #[error("expected a float64 value for `started_at`: {0}")]
    NotFloat64(String),
    /// Bytes follow the map.
    #[error("{0} trailing byte(s) after the map")]
    Trailing(usize),
}

/// Decodes a `status` payload, checking its exact shape, and returns `started_at`.
pub fn decode_status(payload: &[u8]) -> Result<f64, StatusError> {
    let mut rd = payload;
    let len =
        rmp::decode::read_map_len(&mut rd).map_err(|e| StatusError::NotAMap(e.to_string()))?;
    if len != 1 {
        return Err(StatusError::Entries(len));
    }
    let mut buf = [0u8; 32];
    let key = rmp::decode::read_str(&mut rd, &mut buf)
        .map_err(|e| StatusError::KeyNotString(e.to_string()))?;
    if key != "started_at" {
        return Err(StatusError::WrongKey(key.to_owned()));
    }
    let value =
        rmp::decode::read_f64(&mut rd).map_err(|e| StatusError::NotFloat64(e.to_string()))?;
    if !rd.is_empty() {
        return Err(StatusError::Trailing(rd.len()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, f64)]) -> Vec<u8> {
        let mut buf = Vec::new();
        rmp::encode::write_map_len(&mut buf, entries.len() as u32).expect("encode");
        for (key, value) in entries {
            rmp::encode::write_str(&mut buf, key).expect("encode");
            rmp::encode::write_f64(&mut buf, *value).expect("encode");
        }
        buf
    }

    #[test]
    fn accepts_the_exact_shape() {
        assert_eq!(decode_status(&map(&[("started_at", 1.5)])), Ok(1.5));
    }

    #[test]
    fn rejects_other_shapes() {
        assert!(matches!(decode_status(b""), Err(StatusError::NotAMap(_))));
        assert!(matches!(
            decode_status(&[0xc0]),
            Err(StatusError::NotAMap(_))
        ));
        assert_eq!(decode_status(&map(&[])), Err(StatusError::Entries(0)));
        assert_eq!(
            decode_status(&map(&[("started_at", 1.0), ("x", 2.0)])),
            Err(StatusError::Entries(2))
        );
        assert_eq!(
            decode_status(&map(&[("startedAt", 1.0)])),
            Err(StatusError::WrongKey("startedAt".into()))
        );
        let mut trailing = map(&[("started_at", 1.0)]);
        trailing.push(0);
        assert_eq!(decode_status(&trailing), Err(StatusError::Trailing(1)));
    }

    #[test]
    fn rejects_a_key_that_is_not_a_string() {
        let mut buf = Vec::new();
        rmp::encode::write_map_len(&mut buf, 1).expect("encode");
        rmp::encode::write_uint(&mut buf, 1).expect("encode");
        rmp::encode::write_f64(&mut buf, 1.0).expect("encode");
        assert!(matches!(
            decode_status(&buf),
            Err(StatusError::KeyNotString(_))
        ));
    }

    #[test]
    fn rejects_a_value_that_is_not_float64() {
        let mut buf = Vec::new();
        rmp::encode::write_map_len(&mut buf, 1).expect("encode");
        rmp::encode::write_str(&mut buf, "started_at").expect("encode");
        rmp::encode::write_f32(&mut buf, 1.0).expect("encode");
        assert!(matches!(
            decode_status(&buf),
            Err(StatusError::NotFloat64(_))
        ));
        let mut buf = Vec::new();
        rmp::encode::write_map_len(&mut buf, 1).expect("encode");
        rmp::encode::write_str(&mut buf, "started_at").expect("encode");
        rmp::encode::write_uint(&mut buf, 1).expect("encode");
        assert!(matches!(
            decode_status(&buf),
            Err(StatusError::NotFloat64(_))
        ));
    }
}
