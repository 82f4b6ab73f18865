//! Byte ranges in two directions:
//!
//! - [`ContentRange`]: the `Content-Range` of a chunk in a chunked upload, OCI
//!   distribution-spec §Pushing a blob in chunks: `<start>-<end>`, inclusive. Docker
//!   clients historically also send `bytes <start>-<end>` or `bytes=<start>-<end>`;
//!   berth accepts those forms too, and an optional `/<total>` suffix.
//! - [`ByteRange`]: the `Range` header of a blob read (RFC 9110 §14.2), one range only.

/// An inclusive byte range `start..=end` of one upload chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// First byte offset.
    pub start: u64,
    /// Last byte offset (inclusive).
    pub end: u64,
}

impl ContentRange {
    /// Parses a chunk's `Content-Range`. `None` when malformed or when `end < start`.
    pub fn parse(s: &str) -> Option<ContentRange> {
        let s = s.trim();
        let s = s
            .strip_prefix("bytes=")
            .or_else(|| s.strip_prefix("bytes "))
            .unwrap_or(s);
        let s = s.split_once('/').map_or(s, |(r, _total)| r);
        let (a, b) = s.split_once('-')?;
        let start = parse_u64(a)?;
        let end = parse_u64(b)?;
        (end >= start).then_some(ContentRange { start, end })
    }

    /// Number of bytes in the range.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Never true: a parsed range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A single requested range of a blob read, before it is resolved against the size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=<start>-` or `bytes=<start>-<end>`.
    From {
        /// First byte.
        start: u64,
        /// Last byte, inclusive, if given.
        end: Option<u64>,
    },
    /// `bytes=-<n>`: the last `n` bytes.
    Suffix(u64),
    /// `bytes=<a>-<b>` with `b < a`: a range no blob can satisfy (416).
    Backwards,
}

/// What a `Range` header means for a blob of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Serve the whole blob with 200 (no header, or a header berth ignores, as
    /// RFC 9110 allows for multiple ranges or other units).
    Full,
    /// Serve `start..end` (end exclusive) with 206.
    Partial {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// 416 with `Content-Range: bytes */<size>`.
    Unsatisfiable,
}

impl ByteRange {
    /// Parses a `Range` header value. `None` for anything other than one `bytes=` range.
    pub fn parse(s: &str) -> Option<ByteRange> {
        let spec = s.trim().strip_prefix("bytes=")?;
        if spec.contains(',') {
            return None;
        }
        let (a, b) = spec.split_once('-')?;
        if a.trim().is_empty() {
            return Some(ByteRange::Suffix(parse_u64(b)?));
        }
        let start = parse_u64(a)?;
        let end = if b.trim().is_empty() {
            None
        } else {
            Some(parse_u64(b)?)
        };
        if end.is_some_and(|e| e < start) {
            return Some(ByteRange::Backwards);
        }
        Some(ByteRange::From { start, end })
    }

    /// Resolves the range against a blob of `size` bytes (RFC 9110 §14.1.2).
    pub fn resolve(header: Option<&str>, size: u64) -> RangeOutcome {
        let Some(range) = header.and_then(ByteRange::parse) else {
            return RangeOutcome::Full;
        };
        match range {
            ByteRange::From { start, end } => {
                if start >= size {
                    return RangeOutcome::Unsatisfiable;
                }
                let end = end.map_or(size, |e| e.saturating_add(1).min(size));
                RangeOutcome::Partial { start, end }
            }
            ByteRange::Backwards => RangeOutcome::Unsatisfiable,
            ByteRange::Suffix(n) => {
                if n == 0 || size == 0 {
                    return RangeOutcome::Unsatisfiable;
                }
                RangeOutcome::Partial {
                    start: size.saturating_sub(n),
                    end: size,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_forms_are_accepted() {
        let want = Some(ContentRange { start: 0, end: 9 });
        assert_eq!(ContentRange::parse("0-9"), want);
        assert_eq!(ContentRange::parse("bytes 0-9"), want);
        assert_eq!(ContentRange::parse("bytes=0-9"), want);
        assert_eq!(ContentRange::parse("bytes 0-9/10"), want);
        assert_eq!(ContentRange { start: 0, end: 9 }.len(), 10);
    }

    #[test]
    fn malformed_content_range_is_rejected() {
        for bad in ["", "-", "5-4", "a-b", "0-", "-9", "0--9", "+1-2", "1-2-3"] {
            assert_eq!(ContentRange::parse(bad), None, "{bad} accepted");
        }
    }

    #[test]
    fn range_resolves_against_size() {
        use RangeOutcome::*;
        assert_eq!(ByteRange::resolve(None, 10), Full);
        assert_eq!(
            ByteRange::resolve(Some("bytes=0-4"), 10),
            Partial { start: 0, end: 5 }
        );
        assert_eq!(
            ByteRange::resolve(Some("bytes=5-"), 10),
            Partial { start: 5, end: 10 }
        );
        assert_eq!(
            ByteRange::resolve(Some("bytes=5-100"), 10),
            Partial { start: 5, end: 10 }
        );
        assert_eq!(
            ByteRange::resolve(Some("bytes=-3"), 10),
            Partial { start: 7, end: 10 }
        );
        assert_eq!(
            ByteRange::resolve(Some("bytes=-30"), 10),
            Partial { start: 0, end: 10 }
        );
        assert_eq!(ByteRange::resolve(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(ByteRange::resolve(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(ByteRange::resolve(Some("bytes=5-0"), 10), Unsatisfiable);
        assert_eq!(ByteRange::resolve(Some("bytes=0-1,3-4"), 10), Full);
        assert_eq!(ByteRange::resolve(Some("items=0-1"), 10), Full);
    }
}
