//! Little-endian fields for the log's own binary files (its snapshot).

pub(crate) fn take_u64(input: &mut &[u8]) -> Option<u64> {
    let (bytes, rest) = input.split_at_checked(8)?;
    *input = rest;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

pub(crate) fn take_u32(input: &mut &[u8]) -> Option<u32> {
    let (bytes, rest) = input.split_at_checked(4)?;
    *input = rest;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

pub(crate) fn take<const N: usize>(input: &mut &[u8]) -> Option<[u8; N]> {
    let (bytes, rest) = input.split_at_checked(N)?;
    *input = rest;
    bytes.try_into().ok()
}

/// A length-prefixed string.
pub(crate) fn put_str(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

pub(crate) fn take_str(input: &mut &[u8]) -> Option<String> {
    let len = take_u32(input)? as usize;
    let (bytes, rest) = input.split_at_checked(len)?;
    *input = rest;
    String::from_utf8(bytes.to_vec()).ok()
}
