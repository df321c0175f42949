//! The protobuf wire format, read without trusting any declared length: every length is
//! checked against the bytes that remain before anything is sliced or allocated, and nesting
//! is bounded, so a corrupted or hostile file gives an error, never a panic or a huge
//! allocation.

use crate::error::{Result, malformed};

/// How deep messages may nest (ONNX models nest graphs in attributes; Mira reads 6 levels).
pub(crate) const MAX_DEPTH: usize = 16;

/// One field of a message: its number and its value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    pub number: u32,
    pub value: Wire<'a>,
}

/// A field's value as the wire format carries it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Wire<'a> {
    /// The integer of a varint field.
    pub(crate) fn int(self, what: &str) -> Result<i64> {
        match self {
            Wire::Varint(v) => Ok(v as i64),
            _ => Err(malformed(format!("{what}: expected an integer"))),
        }
    }

    /// The bytes of a length-delimited field.
    pub(crate) fn bytes(self, what: &str) -> Result<&'a [u8]> {
        match self {
            Wire::Bytes(b) => Ok(b),
            _ => Err(malformed(format!("{what}: expected bytes"))),
        }
    }

    /// A UTF-8 string field.
    pub(crate) fn string(self, what: &str) -> Result<String> {
        let b = self.bytes(what)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| malformed(format!("{what}: not UTF-8")))
    }

    /// A float field (fixed32).
    pub(crate) fn float(self, what: &str) -> Result<f32> {
        match self {
            Wire::Fixed32(v) => Ok(f32::from_bits(v)),
            _ => Err(malformed(format!("{what}: expected a float"))),
        }
    }
}

/// Reads the fields of one message in order.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(malformed("truncated varint"));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(malformed("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(malformed("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| malformed("a length runs past the end of the data"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next field, or `None` at the end of the message.
    pub(crate) fn next_field(&mut self) -> Result<Option<Field<'a>>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| malformed("field number too large"))?;
        if number == 0 {
            return Err(malformed("field number 0"));
        }
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                Wire::Fixed64(u64::from_le_bytes(
                    b.try_into().map_err(|_| malformed("fixed64"))?,
                ))
            }
            2 => {
                let n =
                    usize::try_from(self.varint()?).map_err(|_| malformed("length too large"))?;
                Wire::Bytes(self.take(n)?)
            }
            5 => {
                let b = self.take(4)?;
                Wire::Fixed32(u32::from_le_bytes(
                    b.try_into().map_err(|_| malformed("fixed32"))?,
                ))
            }
            w => return Err(malformed(format!("unsupported wire type {w}"))),
        };
        Ok(Some(Field { number, value }))
    }
}

/// Integers of a repeated int64/int32 field, packed (bytes of varints) or one per field.
pub(crate) fn push_ints(out: &mut Vec<i64>, value: Wire<'_>, what: &str) -> Result<()> {
    match value {
        Wire::Varint(v) => out.push(v as i64),
        Wire::Bytes(b) => {
            let mut r = Reader::new(b);
            while r.pos < b.len() {
                out.push(r.varint()? as i64);
            }
        }
        _ => return Err(malformed(format!("{what}: expected integers"))),
    }
    Ok(())
}

/// Floats of a repeated float field, packed (little-endian bytes) or one per field.
pub(crate) fn push_floats(out: &mut Vec<f32>, value: Wire<'_>, what: &str) -> Result<()> {
    match value {
        Wire::Fixed32(v) => out.push(f32::from_bits(v)),
        Wire::Bytes(b) => {
            if b.len() % 4 != 0 {
                return Err(malformed(format!(
                    "{what}: packed floats not a multiple of 4 bytes"
                )));
            }
            out.extend(
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
        }
        _ => return Err(malformed(format!("{what}: expected floats"))),
    }
    Ok(())
}

/// Doubles of a repeated double field (packed or not), as f32.
pub(crate) fn push_doubles(out: &mut Vec<f32>, value: Wire<'_>, what: &str) -> Result<()> {
    match value {
        Wire::Fixed64(v) => out.push(f64::from_bits(v) as f32),
        Wire::Bytes(b) => {
            if b.len() % 8 != 0 {
                return Err(malformed(format!(
                    "{what}: packed doubles not a multiple of 8 bytes"
                )));
            }
            out.extend(b.chunks_exact(8).map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                f64::from_le_bytes(a) as f32
            }));
        }
        _ => return Err(malformed(format!("{what}: expected doubles"))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_refuses_lengths_past_the_end() {
        // field 1 varint 150; field 2 bytes "hi"; field 3 fixed32 1.0
        let mut msg = vec![0x08, 0x96, 0x01, 0x12, 2, b'h', b'i', 0x1d];
        msg.extend(1.0f32.to_le_bytes());
        let mut r = Reader::new(&msg);
        let f = r.next_field().unwrap().unwrap();
        assert_eq!((f.number, f.value.int("a").unwrap()), (1, 150));
        let f = r.next_field().unwrap().unwrap();
        assert_eq!(f.value.string("b").unwrap(), "hi");
        let f = r.next_field().unwrap().unwrap();
        assert_eq!(f.value.float("c").unwrap(), 1.0);
        assert!(r.next_field().unwrap().is_none());
        // a length of 2^62 must not be trusted
        let bad = [0x12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40];
        assert!(Reader::new(&bad).next_field().is_err());
        assert!(Reader::new(&[0x08]).next_field().is_err());
        let mut ints = Vec::new();
        push_ints(&mut ints, Wire::Bytes(&[1, 0x96, 0x01]), "i").unwrap();
        assert_eq!(ints, [1, 150]);
    }
}
