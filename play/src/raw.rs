//! `tlog-rs export --format raw`: the terminal's bytes as the user's
//! terminal got them (a typescript, as `script` writes), or the input with
//! `--input`. With `--charset NAME` (the `charset` of the session's start
//! entry) the recorded UTF-8 text is converted back to that charset; the
//! `*_bin` bytes, which the recorder could not decode, are written as they
//! were recorded.

use std::io::Write;

use tlog_rs_format::charset::Charset;
use tlog_rs_format::PacketData;

use crate::source::PacketSource;

pub fn export(
    src: &mut PacketSource,
    input: bool,
    charset: Charset,
    w: &mut dyn Write,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("writing the export: {e}");
    let mut back = charset.reencoder();
    let mut buf = Vec::new();
    while let Some(p) = src.next_packet()? {
        let data = match p.data {
            PacketData::Output(d) if !input => d,
            PacketData::Input(d) if input => d,
            _ => continue,
        };
        match &mut back {
            None => w.write_all(&data).map_err(io)?,
            Some(r) => {
                buf.clear();
                r.feed(&data, &mut buf);
                w.write_all(&buf).map_err(io)?;
            }
        }
    }
    if let Some(r) = &mut back {
        buf.clear();
        r.finish(&mut buf);
        w.write_all(&buf).map_err(io)?;
    }
    Ok(())
}
