use crate::error::ParseError;

/// One record of the `timing` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimingRecord {
    /// `+N`: N milliseconds.
    Delay(u64),
    /// `<N`: N characters of `in_txt`.
    InTxt(u64),
    /// `[N/M`: N U+FFFD characters of `in_txt`, M bytes of `in_bin`.
    InBin(u64, u64),
    /// `>N`
    OutTxt(u64),
    /// `]N/M`
    OutBin(u64, u64),
    /// `=CxR`
    Window(u16, u16),
}

pub fn parse_timing(_timing: &str) -> Result<Vec<TimingRecord>, ParseError> {
    Err(ParseError::field("timing", "not implemented"))
}
