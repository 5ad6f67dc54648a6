fn main() {
    let path = std::env::args().nth(1).unwrap();
    let t = std::time::Instant::now();
    let f = std::fs::File::open(&path).unwrap();
    let mut r = tlog_format::Reader::new(std::io::BufReader::with_capacity(256 * 1024, f));
    let mut n = 0usize;
    while let Some(p) = r.next_packet().unwrap() {
        if let tlog_format::PacketData::Output(d) = p.data {
            n += d.len();
        }
    }
    println!("read {n} bytes in {:?}", t.elapsed());
}
