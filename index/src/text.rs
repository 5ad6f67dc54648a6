//! Screen text as the index keeps it: one chunk per stretch of recording
//! time, stored compressed, and found through the set of its trigrams and a
//! Bloom filter of its 4-grams.
//!
//! Search is by substring, ASCII case-insensitive. A chunk is a candidate
//! for a phrase when it holds every trigram of the phrase and its 4-gram
//! filter may hold every 4-gram of the phrase; candidates are then checked
//! against the text itself, so both may err only towards too many
//! (non-ASCII trigrams are hashed). The index gets each distinct trigram of
//! a chunk once, not once per occurrence: that is what makes indexing cheap
//! (FTS5 hashed every occurrence before, half of the indexer's CPU). A
//! large chunk holds nearly every common trigram, so common words made it a
//! candidate for most phrases; their 4-grams mostly tell it apart, at a
//! fraction of the space an exact 4-gram set would take.
//!
//! Runs of random-looking base64 (keys, certificates, `base64` dumps) are
//! kept as their first characters and an ellipsis: they cost more index
//! than all other text and no one searches inside them. The recording keeps
//! them whole.

use std::borrow::Cow;
use std::collections::HashSet;

/// One chunk of screen text, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct TextChunk {
    /// Start, in ms from the recording's start.
    pub t_ms: u64,
    pub text: String,
    /// The text compressed ([`compress`]).
    pub zbody: Vec<u8>,
    /// Its distinct trigram keys ([`trigram_keys`]), sorted.
    pub trigrams: Vec<u32>,
    /// Its 4-grams as a Bloom filter ([`quad_hashes`], [`bloom_holds`]).
    pub quads: Vec<u8>,
}

impl TextChunk {
    pub fn new(t_ms: u64, text: &str, trigrams: &mut TrigramSet) -> Self {
        let text = elide_random_runs(text).into_owned();
        let (keys, quads) = trigrams.index(&text);
        TextChunk {
            t_ms,
            zbody: compress(&text),
            trigrams: keys,
            quads,
            text,
        }
    }

    /// The trigram keys as the words of an FTS5 document (`ascii` tokenizer).
    pub fn fts_document(&self) -> String {
        fts_words(&self.trigrams)
    }
}

/// zstd level of stored text. Measured on the bench corpus's screen text
/// (140 MB in 1,218 chunks): level 6 is 10 % smaller than the deflate
/// level 4 earlier versions wrote, and takes less CPU; it reads back five
/// times as fast.
const ZSTD_LEVEL: i32 = 6;

/// The first bytes of every zstd frame. A raw deflate stream (what earlier
/// versions wrote) cannot start with them: 0x28 opens a stored block, whose
/// length B5 2F would have to be followed by its complement 4A D0, not FD.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// A chunk's text as stored: one zstd frame that records its length.
pub fn compress(s: &str) -> Vec<u8> {
    thread_local! {
        // One context per indexing thread: a new one per chunk cost as much
        // as the compression.
        static CONTEXT: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    CONTEXT.with_borrow_mut(|c| {
        if c.is_none() {
            *c = zstd::bulk::Compressor::new(ZSTD_LEVEL).ok();
        }
        // Fails only if memory for the context or the output cannot be had.
        c.as_mut()
            .and_then(|c| c.compress(s.as_bytes()).ok())
            .unwrap_or_default()
    })
}

/// Largest chunk text read back; a larger one reads as corrupt.
const TEXT_LIMIT: usize = 64 << 20;

/// Reads stored chunks into one buffer kept between calls: a search reads
/// many chunks, and a new buffer per chunk cost as much again in growing,
/// copying and faulting in its pages. Bodies are zstd frames, or raw
/// deflate in indexes written by earlier versions (read as they are,
/// so an old index needs no rebuild).
#[derive(Default)]
pub struct Decompressor {
    zstd: Option<zstd::bulk::Decompressor<'static>>,
    deflate: Box<miniz_oxide::inflate::core::DecompressorOxide>,
    out: Vec<u8>,
}

impl Decompressor {
    /// The bytes of a stored chunk; empty if it is corrupt (found by
    /// nothing rather than failing the search).
    pub fn decompress(&mut self, z: &[u8]) -> &[u8] {
        let len = if z.starts_with(&ZSTD_MAGIC) {
            self.zstd_frame(z)
        } else {
            self.deflate_stream(z)
        };
        match len {
            Some(n) => &self.out[..n],
            None => &[],
        }
    }

    fn zstd_frame(&mut self, z: &[u8]) -> Option<usize> {
        let size = zstd::zstd_safe::get_frame_content_size(z).ok()??;
        let size = usize::try_from(size).ok().filter(|&n| n <= TEXT_LIMIT)?;
        if self.out.len() < size {
            self.out.resize(size, 0);
        }
        if self.zstd.is_none() {
            self.zstd = Some(zstd::bulk::Decompressor::new().ok()?);
        }
        let d = self.zstd.as_mut()?;
        d.decompress_to_buffer(z, &mut self.out[..size])
            .ok()
            .filter(|&n| n == size)
    }

    fn deflate_stream(&mut self, z: &[u8]) -> Option<usize> {
        use miniz_oxide::inflate::core::{decompress, inflate_flags};
        use miniz_oxide::inflate::TINFLStatus;
        let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
        if self.out.len() < z.len().saturating_mul(4) {
            self.out
                .resize(z.len().saturating_mul(4).min(TEXT_LIMIT), 0);
        }
        self.deflate.init();
        let (mut input, mut at) = (z, 0);
        loop {
            let (status, used, made) =
                decompress(&mut self.deflate, input, &mut self.out, at, flags);
            at += made;
            match status {
                TINFLStatus::Done => return Some(at),
                TINFLStatus::HasMoreOutput if self.out.len() < TEXT_LIMIT => {
                    input = input.get(used..).unwrap_or_default();
                    let grown = self.out.len().saturating_mul(2).min(TEXT_LIMIT);
                    self.out.resize(grown, 0);
                }
                _ => return None,
            }
        }
    }
}

/// Where `needle` (already ASCII-lowercased) is in `body`, ASCII
/// case-insensitive. ASCII lowercasing keeps byte offsets, so the position
/// serves the original text.
pub fn find(body: &str, needle: &str) -> Option<usize> {
    body.to_ascii_lowercase().find(needle)
}

/// A trigram key: three ASCII characters (lowercased) packed in 21 bits;
/// any other trigram hashed into 31 bits with the top bit set. Trigrams
/// across a line end are left out (a phrase is searched within a line).
fn key(a: char, b: char, c: char) -> u32 {
    let (a, b, c) = (
        a.to_ascii_lowercase() as u32,
        b.to_ascii_lowercase() as u32,
        c.to_ascii_lowercase() as u32,
    );
    if a < 128 && b < 128 && c < 128 {
        (a << 14) | (b << 7) | c
    } else {
        let h = (a as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(21)
            ^ (b as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        let h = (h.rotate_left(17) ^ c as u64).wrapping_mul(0x1656_67B1_9E37_79F9);
        0x8000_0000 | (h >> 33) as u32
    }
}

/// The Bloom filter hash of a 4-gram: the key of its first three
/// characters and its last character (ASCII lowercased).
fn quad_hash(first3: u32, last: char) -> u32 {
    mix((u64::from(first3) << 32) | u64::from(last.to_ascii_lowercase() as u32))
}

/// Each trigram key of `text` in turn (none across a line end), with the
/// hash of the 4-gram it ends if the character before it is on its line.
fn scan(text: &str, mut f: impl FnMut(u32, Option<u32>)) {
    let mut w = ['\n'; 3];
    // The key of the trigram before this one, if on the same line.
    let mut prev: Option<u32> = None;
    for ch in text.chars() {
        w = [w[1], w[2], ch];
        if w.contains(&'\n') {
            prev = None;
            continue;
        }
        let k = key(w[0], w[1], w[2]);
        f(k, prev.map(|p| quad_hash(p, ch)));
        prev = Some(k);
    }
}

/// Distinct trigram keys of texts, with its buffers kept between calls.
pub struct TrigramSet {
    /// One bit per ASCII trigram (2^21 bits).
    ascii: Vec<u64>,
    other: HashSet<u32>,
    out: Vec<u32>,
    /// The 4-gram hashes of the last text, once per occurrence (setting a
    /// filter's bit twice is cheaper than finding the distinct ones).
    quads: Vec<u32>,
}

impl Default for TrigramSet {
    fn default() -> Self {
        TrigramSet {
            ascii: vec![0; (1 << 21) / 64],
            other: HashSet::new(),
            out: Vec::new(),
            quads: Vec::new(),
        }
    }
}

impl TrigramSet {
    /// The distinct trigram keys of `text`, sorted, and its 4-gram filter:
    /// [`QUAD_BITS_PER_TRIGRAM`] bits per distinct trigram (the number of
    /// distinct 4-grams follows it).
    pub fn index(&mut self, text: &str) -> (Vec<u32>, Vec<u8>) {
        let keys = self.keys(text);
        let bits = keys.len() * QUAD_BITS_PER_TRIGRAM;
        let quads = bloom(self.quads.iter().copied(), bits);
        (keys, quads)
    }

    /// The distinct keys of `text`, sorted.
    pub fn keys(&mut self, text: &str) -> Vec<u32> {
        self.out.clear();
        self.quads.clear();
        let (ascii, other, out, quads) = (
            &mut self.ascii,
            &mut self.other,
            &mut self.out,
            &mut self.quads,
        );
        scan(text, |k, quad| {
            quads.extend(quad);
            if k & 0x8000_0000 == 0 {
                let (word, bit) = ((k >> 6) as usize, 1u64 << (k & 63));
                if ascii[word] & bit == 0 {
                    ascii[word] |= bit;
                    out.push(k);
                }
            } else if other.insert(k) {
                out.push(k);
            }
        });
        for &k in &self.out {
            if k & 0x8000_0000 == 0 {
                self.ascii[(k >> 6) as usize] &= !(1u64 << (k & 63));
            }
        }
        self.other.clear();
        let mut keys = std::mem::take(&mut self.out);
        keys.sort_unstable();
        self.out = Vec::with_capacity(keys.len());
        keys
    }
}

/// The distinct trigram keys of a search phrase; empty for a phrase under
/// three characters (every chunk is a candidate then).
pub fn trigram_keys(phrase: &str) -> Vec<u32> {
    let mut keys: Vec<u32> = Vec::new();
    let chars: Vec<char> = phrase.chars().collect();
    for w in chars.windows(3) {
        if !w.contains(&'\n') {
            keys.push(key(w[0], w[1], w[2]));
        }
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The distinct Bloom filter hashes of a search phrase's 4-grams; empty
/// for a phrase under 4 characters.
pub fn quad_hashes(phrase: &str) -> Vec<u32> {
    let chars: Vec<char> = phrase.chars().collect();
    let mut hashes: Vec<u32> = chars
        .windows(4)
        .filter(|w| !w.contains(&'\n'))
        .map(|w| quad_hash(key(w[0], w[1], w[2]), w[3]))
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// Keys as FTS5 words: lowercase hex, one per key.
pub fn fts_words(keys: &[u32]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(keys.len() * 7);
    for k in keys {
        if !s.is_empty() {
            s.push(' ');
        }
        let _ = write!(s, "{k:x}");
    }
    s
}

/// An FTS5 query matching documents that hold every key; None when there
/// are no keys.
pub fn fts_query(keys: &[u32]) -> Option<String> {
    if keys.is_empty() {
        return None;
    }
    Some(
        keys.iter()
            .map(|k| format!("\"{k:x}\""))
            .collect::<Vec<_>>()
            .join(" AND "),
    )
}

/// Signature bits per distinct trigram key of a chunk, which sets one bit
/// per trigram and one per 4-gram: a trigram or 4-gram the chunk lacks
/// finds its bit set with odds of about 55 % in large chunks.
const SIGNATURE_BITS_PER_KEY: usize = 4;

/// 4-gram filter bits per distinct trigram of a chunk. Screen text has
/// about 1.6 distinct 4-grams per distinct trigram, so a 4-gram the chunk
/// lacks passes with odds of about 55 %; a phrase missing from a chunk
/// mostly lacks several (a rare word brings a few), each a test of its own.
pub const QUAD_BITS_PER_TRIGRAM: usize = 2;

/// splitmix64's finaliser, the upper half: spreads keys over a filter.
fn mix(v: u64) -> u32 {
    let mut h = v ^ 0x9E37_79B9_7F4A_7C15;
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((h ^ (h >> 31)) >> 32) as u32
}

/// The filter hash of a trigram key, for [`signature`].
pub fn signature_hash(key: u32) -> u32 {
    mix(u64::from(key))
}

/// The bit of a filter of `bits` bits that `hash` sets: the hash scaled
/// to the length (a multiplication, no division per key). PostgreSQL
/// computes the same: `(hash * bits) >> 32`.
fn bloom_bit(hash: u32, bits: u64) -> u64 {
    (u64::from(hash) * bits) >> 32
}

/// A Bloom filter of `bits` bits (rounded up to whole bytes, at least 64)
/// with one bit set per hash. Bit n is bit n % 8 (from the least
/// significant) of byte n / 8, as PostgreSQL's `get_bit` numbers them.
pub fn bloom(hashes: impl Iterator<Item = u32>, bits: usize) -> Vec<u8> {
    let mut sig = vec![0u8; bits.div_ceil(8).max(8)];
    for h in hashes {
        bloom_insert(&mut sig, h);
    }
    sig
}

fn bloom_insert(sig: &mut [u8], hash: u32) {
    let b = bloom_bit(hash, sig.len() as u64 * 8);
    sig[(b / 8) as usize] |= 1 << (b % 8);
}

/// True if the filter may hold `hash` (false: it surely does not).
pub fn bloom_holds(sig: &[u8], hash: u32) -> bool {
    let bits = sig.len() as u64 * 8;
    bits > 0 && {
        let b = bloom_bit(hash, bits);
        sig[(b / 8) as usize] & (1 << (b % 8)) != 0
    }
}

/// A chunk's trigram keys (`keys`, [`TrigramSet::keys`] of `text`) and
/// 4-grams as one Bloom filter, for a backend without an exact trigram
/// index (PostgreSQL): whatever its keys, the signature's size is
/// proportional to their number, not to the key space.
pub fn signature(keys: &[u32], text: &str) -> Vec<u8> {
    let mut sig = bloom(
        keys.iter().map(|&k| signature_hash(k)),
        keys.len() * SIGNATURE_BITS_PER_KEY,
    );
    scan(text, |_, quad| {
        if let Some(h) = quad {
            bloom_insert(&mut sig, h);
        }
    });
    sig
}

/// True if the signature may hold the trigram `key` (false: it surely
/// does not); 4-grams are tested with [`bloom_holds`] and [`quad_hashes`].
pub fn signature_holds(sig: &[u8], key: u32) -> bool {
    bloom_holds(sig, signature_hash(key))
}

/// Shortest run treated as random data.
const RANDOM_RUN: usize = 64;
/// What is kept of such a run.
const RANDOM_KEEP: usize = 16;

/// Character classes for base64 runs: 0 none, 1 upper, 2 lower, 3 digit,
/// 4 the other base64 and base64url characters.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = match b {
            b'A'..=b'Z' => 1,
            b'a'..=b'z' => 2,
            b'0'..=b'9' => 3,
            b'+' | b'/' | b'=' | b'-' | b'_' => 4,
            _ => 0,
        };
        c += 1;
    }
    t
};

fn is_base64(c: u8) -> bool {
    CLASS[c as usize] != 0
}

/// Whether a run of base64 characters looks random: the character class
/// (upper, lower, digit, other) changes between at least 40 % of
/// neighbours (about 64 % in random base64, under 20 % in camel-case
/// identifiers, none in paths), and it uses at least 70 % of the distinct
/// characters a random run of its length would (hex never has more than 16).
fn looks_random(run: &[u8]) -> bool {
    fn class(c: u8) -> u8 {
        match c {
            b'A'..=b'Z' => 0,
            b'a'..=b'z' => 1,
            b'0'..=b'9' => 2,
            _ => 3,
        }
    }
    let mut seen = [false; 256];
    let mut distinct = 0usize;
    for &c in run {
        if !seen[c as usize] {
            seen[c as usize] = true;
            distinct += 1;
        }
    }
    let switches = run
        .windows(2)
        .filter(|w| class(w[0]) != class(w[1]))
        .count();
    let expected = 64.0 * (1.0 - (63.0f64 / 64.0).powi(run.len().min(4096) as i32));
    switches * 10 >= (run.len() - 1) * 4 && distinct as f64 >= 0.7 * expected
}

/// The text with each random-looking base64 run of 64 or more characters
/// cut to its first 16 and an ellipsis.
pub fn elide_random_runs(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if !is_base64(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_base64(b[i]) {
            i += 1;
        }
        if i - start >= RANDOM_RUN && looks_random(&b[start..i]) {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len() / 2));
            // Runs are ASCII, so these are character boundaries.
            o.push_str(&text[copied..start + RANDOM_KEEP]);
            o.push('…');
            copied = i;
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(text: &str, phrase: &str) -> bool {
        let doc: HashSet<u32> = TrigramSet::default().keys(text).into_iter().collect();
        trigram_keys(phrase).iter().all(|k| doc.contains(k))
    }

    #[test]
    fn every_substring_is_a_candidate_whatever_its_ascii_case() {
        let text = "Überweisung an Müller: 4711 EUR\nsudo rm -rf /tmp/x\n日本語のテキスト";
        for phrase in ["WEISUNG an Mül", "RM -RF", "4711", "語のテ", "EUR"] {
            assert!(candidate(text, phrase), "{phrase}");
        }
        // A phrase across the line end is not indexed as one: its trigrams
        // within each line still are, so it remains a (checked) candidate.
        assert!(candidate(text, "EUR\nsudo"));
        assert!(!candidate(text, "rm -rf /etc"));
        assert!(!candidate(text, "überweisung"), "non-ASCII case is kept");
    }

    #[test]
    fn a_signature_holds_its_keys_and_few_others() {
        let text = std::iter::repeat_n("the quick brown fox jumps over the lazy dog 0123\n", 50)
            .enumerate()
            .map(|(i, l)| format!("{i} {l}"))
            .collect::<String>();
        let keys = TrigramSet::default().keys(&text);
        let sig = signature(&keys, &text);
        assert_eq!(sig.len(), (keys.len() * SIGNATURE_BITS_PER_KEY).div_ceil(8));
        assert!(keys.iter().all(|&k| signature_holds(&sig, k)));
        assert!(quad_hashes(&text).iter().all(|&h| bloom_holds(&sig, h)));
        // Keys of other text: about half pass, each on its own.
        let other_text: String = (0u32..4000)
            .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 7) as u8 % 26))
            .collect();
        let others: Vec<u32> = TrigramSet::default()
            .keys(&other_text)
            .into_iter()
            .filter(|k| !keys.contains(k))
            .collect();
        let passed = others.iter().filter(|&&k| signature_holds(&sig, k)).count();
        assert!(
            others.len() > 100 && passed * 2 < others.len(),
            "{passed} of {}",
            others.len()
        );
        // No keys: the smallest signature, holding nothing.
        assert_eq!(signature(&[], ""), vec![0; 8]);
        assert!(!signature_holds(&signature(&[], ""), keys[0]));
    }

    /// The text's 4-gram filter and trigram set, as a search tests them.
    fn candidate_by_quads(text: &str, phrase: &str) -> bool {
        let (keys, quads) = TrigramSet::default().index(text);
        trigram_keys(phrase).iter().all(|k| keys.contains(k))
            && quad_hashes(phrase).iter().all(|&h| bloom_holds(&quads, h))
    }

    #[test]
    fn the_4_gram_filter_passes_every_substring_and_tells_apart_common_trigrams() {
        let text = "Überweisung an Müller: 4711 EUR\nsudo rm -rf /tmp/x\n日本語のテキスト\n\
                    needless to handle the phrase\n";
        for phrase in [
            "WEISUNG an Mül",
            "RM -RF",
            "4711",
            "語のテキ",
            "EUR\nsudo",
            "Needless to Handle",
            "ab",
        ] {
            assert!(candidate_by_quads(text, phrase), "{phrase}");
        }
        // Word pairs the text lacks though it holds their trigrams: the
        // 4-grams tell many apart (a pair often lacks only the one or two
        // 4-grams across its space).
        let prose = "the program is distributed in the hope that it will be useful\n\
                     but without any warranty; without even the implied warranty\n\
                     of merchantability or fitness for a particular purpose.\n";
        let words: Vec<&str> = prose.split_whitespace().collect();
        let pairs: Vec<String> = words
            .iter()
            .flat_map(|a| words.iter().map(move |b| format!("{a} {b}")))
            .filter(|p| !prose.contains(p.as_str()) && candidate(prose, p))
            .collect();
        let passed = pairs
            .iter()
            .filter(|p| candidate_by_quads(prose, p))
            .count();
        assert!(
            pairs.len() > 20 && passed * 3 < pairs.len() * 2,
            "{passed} of {}",
            pairs.len()
        );
        let (keys, quads) = TrigramSet::default().index(text);
        assert_eq!(
            quads.len(),
            (keys.len() * QUAD_BITS_PER_TRIGRAM).div_ceil(8).max(8)
        );
        assert!(quad_hashes("abc").is_empty());
        assert_eq!(quad_hashes("abcd"), quad_hashes("ABCD"));
        assert!(quad_hashes("ab\ncd").is_empty());
    }

    #[test]
    fn keys_are_distinct_sorted_and_the_set_is_reusable() {
        let mut set = TrigramSet::default();
        let a = set.keys("abcabcabc ÄÖÜÄÖÜ");
        assert!(a.windows(2).all(|w| w[0] < w[1]), "{a:?}");
        // abc, bca, cab, "bc ", "c Ä", " ÄÖ", ÄÖÜ, ÖÜÄ, ÜÄÖ
        assert_eq!(a.len(), 9, "{a:?}");
        let b = set.keys("xyz");
        assert_eq!(b, vec![key('x', 'y', 'z')]);
        assert_eq!(set.keys("abcabcabc ÄÖÜÄÖÜ"), a);
    }

    #[test]
    fn fts_words_and_queries_name_the_same_keys() {
        let keys = trigram_keys("Abc");
        assert_eq!(
            keys,
            vec![(b'a' as u32) << 14 | (b'b' as u32) << 7 | b'c' as u32]
        );
        assert_eq!(fts_words(&keys), format!("{:x}", keys[0]));
        assert_eq!(fts_query(&keys).unwrap(), format!("\"{:x}\"", keys[0]));
        assert_eq!(fts_query(&trigram_keys("ab")), None);
    }

    #[test]
    fn random_base64_is_cut_and_words_paths_and_hex_are_not() {
        let blob = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi8jsHxEGrZ4q8iRk2hBQ+oV5nL7pX";
        assert!(blob.len() >= 64);
        let text = format!("key:\n{blob}\nend");
        assert_eq!(
            elide_random_runs(&text),
            format!("key:\n{}…\nend", &blob[..16])
        );
        for kept in [
            "/usr/share/doc/libreoffice-common/changelog/debian/copyright/files/a",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "ThisIsAVeryLongIdentifierNameThatSomeJavaProgrammerWroteInTheYear2024",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1A",
            "short Zm9vYmFy base64",
        ] {
            assert!(
                matches!(elide_random_runs(kept), Cow::Borrowed(_)),
                "{kept}"
            );
        }
    }

    #[test]
    fn a_chunk_round_trips_through_compression() {
        let c = TextChunk::new(5, "hello world", &mut TrigramSet::default());
        assert!(c.zbody.starts_with(&ZSTD_MAGIC));
        let mut d = Decompressor::default();
        assert_eq!(d.decompress(&c.zbody), b"hello world");
        assert_eq!(c.trigrams, TrigramSet::default().keys("hello world"));
        assert!(quad_hashes("O WO")
            .iter()
            .all(|&h| bloom_holds(&c.quads, h)));
        assert_eq!(d.decompress(b"not compressed"), b"");
        // One decompressor for chunks of any size, corrupt ones between,
        // and the raw deflate bodies of indexes written before zstd.
        let big: String = (0..20_000).map(|i| format!("{i} ")).collect();
        for t in ["small", big.as_str(), "", "small again", big.as_str()] {
            assert_eq!(d.decompress(&compress(t)), t.as_bytes());
            let old = miniz_oxide::deflate::compress_to_vec(t.as_bytes(), 4);
            assert_eq!(d.decompress(&old), t.as_bytes());
            assert_eq!(d.decompress(b"not compressed"), b"");
            let mut cut = compress(t);
            cut.truncate(cut.len() - 1);
            assert_eq!(
                d.decompress(&cut),
                b"",
                "truncated frame of {} bytes",
                t.len()
            );
        }
        assert_eq!(find("Hello World", "world"), Some(6));
    }
}
