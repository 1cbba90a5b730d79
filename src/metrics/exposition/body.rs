//! What a scrape sends: the exposition assembled from the store's shared pieces, and the gzip
//! framing that puts the per-scrape self metrics in front of the cached DEFLATE blocks
//! without recompressing them (RFC 1951, RFC 1952).

use std::sync::Arc;

use bytes::Bytes;

use super::Block;
use super::segment::Segment;

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

/// One piece of the plain text: a chunk (a family's header), or a segment's chunks.
#[derive(Debug, Clone)]
enum Piece {
    Chunk(Bytes),
    Segment(Arc<Segment>),
}

impl Piece {
    fn chunks(&self) -> &[Bytes] {
        match self {
            Piece::Chunk(b) => std::slice::from_ref(b),
            Piece::Segment(s) => &s.text,
        }
    }
}

/// The plain text as shared pieces: the families' headers and their segments' chunks, in
/// order. Nothing is copied to list them.
#[derive(Debug, Default, Clone)]
pub struct Text {
    pieces: Vec<Piece>,
    len: usize,
}

impl Text {
    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunks, in order.
    pub fn chunks(&self) -> impl Iterator<Item = &Bytes> {
        self.pieces.iter().flat_map(Piece::chunks)
    }

    /// A contiguous copy (tests and tools; /metrics never copies).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for c in self.chunks() {
            out.extend_from_slice(c);
        }
        out
    }
}

/// Compressed pieces below this size are copied into one buffer with their neighbours when
/// an exposition is assembled (headers are ~100 bytes, a small family's segment a few KiB):
/// a scrape then hands hyper a few large buffers, not one small one per family.
const COALESCE_BELOW: usize = 16 * 1024;

/// The bytes a scrape serves for the object families, plain and compressed.
#[derive(Debug, Default)]
pub struct Exposition {
    /// Plain text, as shared pieces.
    pub text: Text,
    /// The same text as raw DEFLATE blocks, byte-aligned and without a final block, in a few
    /// buffers (the segments' own, small ones copied together), so that [`gzip_parts`] can
    /// put them behind the per-scrape self metrics.
    pub deflate: Chunks,
    /// CRC-32 state of `text`, combined per scrape with that of the self metrics.
    pub crc: crc32fast::Hasher,
}

/// An [`Exposition`] being assembled from headers and segments, in order.
#[derive(Debug, Default)]
pub(super) struct Assembly {
    out: Exposition,
    /// Small compressed pieces not yet pushed, copied together.
    run: Vec<u8>,
}

impl Assembly {
    /// Appends a block (a family's header, `# EOF`).
    pub(super) fn block(&mut self, b: &Block) {
        if b.text.is_empty() {
            return;
        }
        self.out.text.len += b.text.len();
        self.out.text.pieces.push(Piece::Chunk(b.text.clone()));
        self.deflate(&b.deflate);
        self.out.crc.combine(&b.crc);
    }

    /// Appends a segment's samples.
    pub(super) fn segment(&mut self, s: &Arc<Segment>) {
        if s.text_len == 0 {
            return;
        }
        self.out.text.len += s.text_len;
        self.out.text.pieces.push(Piece::Segment(s.clone()));
        self.deflate(&s.deflate);
        self.out.crc.combine(s.crc());
    }

    fn deflate(&mut self, b: &Bytes) {
        if b.len() < COALESCE_BELOW {
            self.run.extend_from_slice(b);
        } else {
            self.flush();
            self.out.deflate.push(b);
        }
    }

    fn flush(&mut self) {
        if !self.run.is_empty() {
            let run = std::mem::take(&mut self.run);
            self.out.deflate.push(&Bytes::from(run));
        }
    }

    pub(super) fn finish(mut self) -> Exposition {
        self.flush();
        self.out
    }
}

/// The end of a DEFLATE stream: an empty final block with fixed Huffman codes (what zlib
/// writes for `Z_FINISH` right after a sync flush).
const DEFLATE_END: &[u8] = &[0x03, 0x00];

/// One gzip stream (RFC 1952) for `head` followed by `objects.text`, without compressing
/// anything: `head` (the self metrics, compressed by their owner once per change) and the
/// cached compressed objects are DEFLATE blocks of one stream (each byte-aligned after a
/// sync flush, none final: see [`Block`]), followed by an empty final block and the
/// trailer, whose CRC is combined from both parts. A single member, because not every
/// client (curl, some proxies) reads multi-member gzip.
///
/// Per scrape this allocates only the header and trailer; the rest is reference-counted.
pub fn gzip_parts(
    head: &Block,
    objects: &Arc<Exposition>,
) -> (usize, impl Iterator<Item = Bytes> + Send + 'static) {
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut crc = head.crc.clone();
    crc.combine(&objects.crc);
    let size = (head.text.len() as u64 + objects.text.len() as u64) as u32;
    let mut trailer = Vec::with_capacity(DEFLATE_END.len() + 8);
    trailer.extend_from_slice(DEFLATE_END);
    trailer.extend_from_slice(&crc.finalize().to_le_bytes());
    trailer.extend_from_slice(&size.to_le_bytes());
    let len = HEADER.len() + head.deflate.len() + objects.deflate.len() + trailer.len();
    let objects = objects.clone();
    let body = [Bytes::from_static(&HEADER), head.deflate.clone()]
        .into_iter()
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
    let body = std::iter::once(head).chain(TextParts {
        objects: objects.clone(),
        piece: 0,
        chunk: 0,
    });
    (len, body)
}

/// The text's chunks, owning a reference to the exposition (a scrape's body outlives the
/// handler).
struct TextParts {
    objects: Arc<Exposition>,
    piece: usize,
    chunk: usize,
}

impl Iterator for TextParts {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        loop {
            let chunks = self.objects.text.pieces.get(self.piece)?.chunks();
            if let Some(c) = chunks.get(self.chunk) {
                self.chunk += 1;
                return Some(c.clone());
            }
            self.piece += 1;
            self.chunk = 0;
        }
    }
}
