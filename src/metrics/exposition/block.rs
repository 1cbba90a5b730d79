//! Blocks of exposition text with their compressed form, and the writer that reuses a
//! previous rendering's unchanged blocks instead of copying and compressing them again.

use std::collections::HashMap;

use bytes::Bytes;
// Level 1 ("fast"): the exposition is repetitive text that compresses about 25-fold even
// so, and each block is compressed once in its lifetime.
use flate2::{Compress, Compression, FlushCompress};

use super::AccountExposition;

/// A run of exposition text with its compressed form.
#[derive(Debug, Clone)]
pub struct Block {
    /// Plain text (whole lines).
    pub text: Bytes,
    /// The text as raw DEFLATE blocks with a fresh dictionary, ending byte-aligned after a
    /// sync flush and without a final block: blocks can be concatenated into one stream.
    pub deflate: Bytes,
    /// CRC-32 state of `text`, for the gzip trailer.
    pub(super) crc: crc32fast::Hasher,
}

impl Block {
    /// True when `other` is this very block (the same shared text), as a [`BlockWriter`]
    /// hands back a previous rendering's block whose text came out unchanged.
    pub fn is(&self, other: &Block) -> bool {
        self.text.as_ptr() == other.text.as_ptr() && self.text.len() == other.text.len()
    }
}

/// Makes [`Block`]s, reusing those of a previous rendering whose text is unchanged.
pub struct BlockWriter {
    reuse: HashMap<(u32, usize), Block>,
    /// Made on the first block that needs compressing: a compressor's state is some
    /// hundreds of KiB to allocate and zero, and a refresh where nothing changed (most
    /// refreshes of most accounts) compresses nothing.
    compress: Option<Compress>,
    deflated: Vec<u8>,
    /// Blocks taken over unchanged from the previous rendering.
    pub reused: usize,
    /// Blocks compressed anew.
    pub compressed: usize,
}

impl std::fmt::Debug for BlockWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockWriter")
            .field("reusable", &self.reuse.len())
            .field("reused", &self.reused)
            .field("compressed", &self.compressed)
            .finish()
    }
}

impl BlockWriter {
    /// A writer that may reuse the blocks of `previous` (the account's current rendering).
    pub fn new(previous: Option<&AccountExposition>) -> Self {
        let mut reuse = HashMap::new();
        for family in previous.map(|p| p.families.as_slice()).unwrap_or_default() {
            for b in std::iter::once(&family.header).chain(&family.blocks) {
                reuse.insert((b.crc.clone().finalize(), b.text.len()), b.clone());
            }
        }
        BlockWriter {
            reuse,
            compress: None,
            deflated: Vec::new(),
            reused: 0,
            compressed: 0,
        }
    }

    /// The block for `text`, which it keeps as it is (no copy): for text made to be served
    /// whole, never reused from a previous rendering (the self metrics' encoding).
    pub fn block_of(&mut self, text: Bytes) -> Block {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&text);
        let deflate = Bytes::copy_from_slice(self.deflate(&text));
        Block { text, deflate, crc }
    }

    /// The block for `text`: the previous rendering's if identical, else a new one.
    pub fn block(&mut self, text: &[u8]) -> Block {
        let mut crc = crc32fast::Hasher::new();
        crc.update(text);
        let key = (crc.clone().finalize(), text.len());
        if let Some(old) = self.reuse.get(&key)
            && old.text[..] == *text
        {
            self.reused += 1;
            return old.clone();
        }
        self.compressed += 1;
        let deflate = Bytes::copy_from_slice(self.deflate(text));
        Block {
            text: Bytes::copy_from_slice(text),
            deflate,
            crc,
        }
    }

    /// `text` compressed into `self.deflated`.
    fn deflate(&mut self, text: &[u8]) -> &[u8] {
        // A fresh dictionary per block: back-references never reach into whatever block
        // precedes this one in a scrape, so blocks concatenate in any order.
        let compress = match &mut self.compress {
            Some(c) => {
                c.reset();
                c
            }
            None => self
                .compress
                .insert(Compress::new(Compression::fast(), false)),
        };
        self.deflated.clear();
        deflate_sync(compress, text, &mut self.deflated);
        &self.deflated
    }
}

/// Compresses `input` into `out` (appending) and ends with a sync flush, so the output is
/// byte-aligned and the DEFLATE stream can be continued by other blocks.
fn deflate_sync(compress: &mut Compress, mut input: &[u8], out: &mut Vec<u8>) {
    loop {
        out.reserve(input.len() / 2 + 64);
        let before_in = compress.total_in();
        let status = compress.compress_vec(input, out, FlushCompress::Sync);
        input = &input[(compress.total_in() - before_in) as usize..];
        // Done when all input is consumed and the flush fitted (spare capacity left).
        if status.is_err() || (input.is_empty() && out.len() < out.capacity()) {
            break;
        }
    }
}
