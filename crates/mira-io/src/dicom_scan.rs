//! A length check of the DICOM encoding, before dicom-rs parses it.
//!
//! dicom-parser allocates each element's buffer from its declared length before reading it, so
//! a corrupted 1 kB file can declare a 4 GiB element. This walk checks that every defined
//! length fits in the bytes that remain in its container (file, item or sequence) and that
//! nesting stays shallow, and refuses the file otherwise. It reads the file meta group as
//! explicit VR little endian and the data set in the syntax the meta group names.

/// Explicit VRs with a 2-byte length; every other (including unknown) VR has 2 reserved
/// bytes and a 4-byte length, as the standard prescribes for unknown VRs.
const SHORT_VRS: [&[u8; 2]; 21] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN",
    b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
];

fn long_vr(vr: &[u8]) -> bool {
    !SHORT_VRS.iter().any(|v| v.as_slice() == vr)
}
const UNDEFINED: u32 = 0xFFFF_FFFF;
const MAX_DEPTH: u32 = 32;

struct Walk<'a> {
    d: &'a [u8],
    explicit: bool,
    big: bool,
}

impl Walk<'_> {
    fn u16(&self, at: usize) -> Option<u16> {
        let b = self.d.get(at..at + 2)?;
        Some(if self.big {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b = self.d.get(at..at + 4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Some(if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    /// Walks elements from `pos` to `end` (or to a delimiter when `until_delim`); returns the
    /// position after the last element read. `stop_group` ends the walk at the first element
    /// of another group (used for the meta group).
    fn walk(
        &self,
        pos: usize,
        end: usize,
        depth: u32,
        until_delim: bool,
        stop_group: Option<u16>,
    ) -> Result<usize, String> {
        self.walk_items(pos, end, depth, until_delim, stop_group, false)
    }

    /// As `walk`; with `fragments`, items hold raw bytes (encapsulated pixel data), not
    /// elements, and are skipped rather than walked.
    fn walk_items(
        &self,
        mut pos: usize,
        end: usize,
        depth: u32,
        until_delim: bool,
        stop_group: Option<u16>,
        fragments: bool,
    ) -> Result<usize, String> {
        if depth > MAX_DEPTH {
            return Err(format!("sequences nested deeper than {MAX_DEPTH}"));
        }
        let short = |pos: usize| format!("truncated element header at byte {pos}");
        while pos < end {
            let group = self.u16(pos).ok_or_else(|| short(pos))?;
            let elem = self.u16(pos + 2).ok_or_else(|| short(pos))?;
            if let Some(g) = stop_group
                && group != g
            {
                return Ok(pos);
            }
            if group == 0xFFFE {
                let len = self.u32(pos + 4).ok_or_else(|| short(pos))?;
                pos += 8;
                match elem {
                    0xE00D | 0xE0DD => return Ok(pos),
                    0xE000 if len == UNDEFINED && !fragments => {
                        pos = self.walk(pos, end, depth + 1, true, None)?
                    }
                    0xE000 if len == UNDEFINED => {
                        return Err("a pixel data fragment of undefined length".into());
                    }
                    0xE000 => {
                        let stop = self.fits(pos, len, end, group, elem)?;
                        if !fragments {
                            self.walk(pos, stop, depth + 1, false, None)?;
                        }
                        pos = stop;
                    }
                    _ => return Err(format!("unknown item tag (FFFE,{elem:04X}) at byte {pos}")),
                }
                continue;
            }
            let (len, is_sq) = if self.explicit {
                let vr = self.d.get(pos + 4..pos + 6).ok_or_else(|| short(pos))?;
                if long_vr(vr) {
                    let len = self.u32(pos + 8).ok_or_else(|| short(pos))?;
                    pos += 12;
                    (len, vr == b"SQ")
                } else {
                    let len = u32::from(self.u16(pos + 6).ok_or_else(|| short(pos))?);
                    pos += 8;
                    (len, false)
                }
            } else {
                let len = self.u32(pos + 4).ok_or_else(|| short(pos))?;
                pos += 8;
                (len, false)
            };
            if len == UNDEFINED {
                // A sequence, or encapsulated pixel data (items are byte fragments).
                let fragments = (group, elem) == (0x7FE0, 0x0010) || (self.explicit && !is_sq);
                pos = self.walk_items(pos, end, depth + 1, true, None, fragments)?;
            } else {
                let stop = self.fits(pos, len, end, group, elem)?;
                if is_sq {
                    self.walk(pos, stop, depth + 1, false, None)?;
                }
                pos = stop;
            }
        }
        if until_delim && pos > end {
            return Err("a sequence runs past the end of the file".into());
        }
        Ok(pos)
    }

    fn fits(&self, pos: usize, len: u32, end: usize, g: u16, e: u16) -> Result<usize, String> {
        let stop = pos.checked_add(len as usize).filter(|&s| s <= end);
        stop.ok_or_else(|| {
            format!(
                "element ({g:04X},{e:04X}) declares {len} bytes but only {} remain",
                end.saturating_sub(pos)
            )
        })
    }
}

/// Checks a DICOM stream that starts at the `DICM` marker. Returns the transfer syntax UID
/// of the meta group and the offset where the data set starts.
pub(crate) fn check_lengths(body: &[u8]) -> Result<(String, usize), String> {
    let meta = Walk {
        d: body,
        explicit: true,
        big: false,
    };
    let start = 4; // after "DICM"
    let ds_start = meta.walk(start, body.len(), 0, false, Some(0x0002))?;
    // Transfer syntax UID (0002,0010) from the meta group.
    let mut pos = start;
    let mut ts = String::new();
    while pos + 8 <= ds_start {
        let (g, e) = (meta.u16(pos).unwrap_or(0), meta.u16(pos + 2).unwrap_or(0));
        let vr = &body[pos + 4..pos + 6];
        let (len, head) = if long_vr(vr) {
            (meta.u32(pos + 8).unwrap_or(0) as usize, 12)
        } else {
            (meta.u16(pos + 6).unwrap_or(0) as usize, 8)
        };
        if (g, e) == (0x0002, 0x0000) {
            // File Meta Information Group Length: the meta reader trusts it.
            let gl = meta.u32(pos + head).unwrap_or(u32::MAX) as usize;
            if gl > body.len().saturating_sub(pos + head + len) {
                return Err(format!(
                    "file meta group length {gl} exceeds the {} bytes that remain",
                    body.len().saturating_sub(pos + head + len)
                ));
            }
        }
        if (g, e) == (0x0002, 0x0010) {
            let v = body.get(pos + head..pos + head + len).unwrap_or(&[]);
            ts = String::from_utf8_lossy(v)
                .trim_end_matches(['\0', ' '])
                .to_string();
        }
        pos += head + len;
    }
    let (explicit, big) = match ts.as_str() {
        "1.2.840.10008.1.2" => (false, false),
        "1.2.840.10008.1.2.2" => (true, true),
        _ => (true, false),
    };
    if ts != "1.2.840.10008.1.2.1.99" {
        Walk {
            d: body,
            explicit,
            big,
        }
        .walk(ds_start, body.len(), 0, false, None)?;
    }
    Ok((ts, ds_start))
}

/// Checks an inflated (explicit VR little endian) data set.
pub(crate) fn check_dataset(data: &[u8]) -> Result<(), String> {
    Walk {
        d: data,
        explicit: true,
        big: false,
    }
    .walk(0, data.len(), 0, false, None)
    .map(|_| ())
}
