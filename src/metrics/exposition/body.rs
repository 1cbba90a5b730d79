//! What a scrape sends: the stitched objects as shared chunks, and the gzip framing that
//! puts the per-scrape self metrics in front of the cached DEFLATE blocks without
//! recompressing them (RFC 1951, RFC 1952).

use std::sync::Arc;

use bytes::Bytes;

/// A list of shared byte chunks that together form one body.
#[derive(Debug, Default, Clone)]
pub struct Chunks {
    parts: Vec<Bytes>,
    len: usize,
}

impl Chunks {
    pub(super) fn push(&mut self, b: &Bytes) {
        if !b.is_empty() {
            self.len += b.len();
            self.parts.push(b.clone());
        }
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunks, in order.
    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// A contiguous copy (tests and tools; /metrics never copies).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for p in &self.parts {
            out.extend_from_slice(p);
        }
        out
    }
}

/// The bytes a scrape serves for the object families, plain and compressed.
#[derive(Debug, Default)]
pub struct Exposition {
    /// Plain text, as shared chunks.
    pub text: Chunks,
    /// The same text as raw DEFLATE blocks, byte-aligned and without a final block, in one
    /// buffer, so that [`gzip_parts`] can put them behind the per-scrape self metrics.
    pub deflate: Chunks,
    /// CRC-32 state of `text`, combined per scrape with that of the self metrics.
    pub crc: crc32fast::Hasher,
}

/// The end of a DEFLATE stream: an empty final block with fixed Huffman codes (what zlib
/// writes for `Z_FINISH` right after a sync flush).
const DEFLATE_END: &[u8] = &[0x03, 0x00];

/// One gzip stream (RFC 1952) for `head` followed by `objects.text`, without recompressing
/// the objects: `head` goes first as DEFLATE *stored* blocks (byte-aligned, no final block;
/// the self metrics are a few KiB, so compressing them would save little on the wire and
/// cost a compressor per scrape), the cached compressed objects follow as further blocks
/// of the same DEFLATE stream, then an empty final block and the trailer, whose CRC is
/// combined from both parts. A single member, because not every client (curl, some
/// proxies) reads multi-member gzip.
///
/// Per scrape this allocates only for `head`; the object bytes are reference-counted.
pub fn gzip_parts(
    head: &[u8],
    objects: &Arc<Exposition>,
) -> (usize, impl Iterator<Item = Bytes> + Send + 'static) {
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    const STORED_MAX: usize = 0xffff;
    let mut first =
        Vec::with_capacity(HEADER.len() + head.len() + 5 * (head.len() / STORED_MAX + 1));
    first.extend_from_slice(&HEADER);
    for piece in head.chunks(STORED_MAX) {
        // BFINAL=0, BTYPE=00 (stored), padded to the byte; then LEN and its complement.
        let len = piece.len() as u16;
        first.push(0);
        first.extend_from_slice(&len.to_le_bytes());
        first.extend_from_slice(&(!len).to_le_bytes());
        first.extend_from_slice(piece);
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(head);
    crc.combine(&objects.crc);
    let size = (head.len() as u64 + objects.text.len() as u64) as u32;
    let mut trailer = Vec::with_capacity(DEFLATE_END.len() + 8);
    trailer.extend_from_slice(DEFLATE_END);
    trailer.extend_from_slice(&crc.finalize().to_le_bytes());
    trailer.extend_from_slice(&size.to_le_bytes());
    let len = first.len() + objects.deflate.len() + trailer.len();
    let objects = objects.clone();
    let body = std::iter::once(Bytes::from(first))
        .chain((0..objects.deflate.parts.len()).map(move |i| objects.deflate.parts[i].clone()))
        .chain(std::iter::once(Bytes::from(trailer)));
    (len, body)
}

/// `head` followed by `objects.text`, as shared chunks.
pub fn plain_parts(
    head: Bytes,
    objects: &Arc<Exposition>,
) -> (usize, impl Iterator<Item = Bytes> + Send + 'static) {
    let len = head.len() + objects.text.len();
    let objects = objects.clone();
    let body = std::iter::once(head)
        .chain((0..objects.text.parts.len()).map(move |i| objects.text.parts[i].clone()));
    (len, body)
}
