//! Reading one listing page in chunks, so that a page is bounded by the bytes of its
//! documents as well as by its row count, and so that memory stays bounded while it is read.
//!
//! Each chunk is one query (the page's query, continued after the last row kept, with a
//! smaller LIMIT). The database sends a row's document only when it is at most the
//! chunk's per-row budget (the page's byte cap divided by the chunk's rows), and always
//! sends its size; so a chunk never carries more than about one page's bytes of
//! documents, however large the stored ones are. A row whose document was withheld ends
//! the chunk: the next chunk starts at that row, with few enough rows that it fits.
//!
//! Sizes: the first chunk asks for `min(page_size, 100) + 1` rows (at the 4 MiB cap,
//! documents up to 41 KiB each for 101 rows, 82 KiB for the default 51), so a page of
//! ordinary Tekton documents is still one query; later chunks aim at about half the cap,
//! allowing each row twice the average document seen so far. Memory stays under about
//! twice the larger of the cap and one document. A document's size was stored when it
//! was written (see [`super::stored_size`]), so the database reads it rather than
//! measuring the document; only rows written before sizes were stored are measured.

use crate::Result;

/// Rows of a page's first chunk (plus one to learn whether more follow). A page of up to
/// this many small documents is read by one query, as before chunking.
pub(super) const FIRST_CHUNK_ROWS: usize = 100;

/// What one chunk asks of the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Chunk {
    /// The query's LIMIT.
    pub limit: i64,
    /// The largest document sent in full; larger ones come without their document.
    pub row_bytes: i64,
}

impl Chunk {
    /// The first chunk of a page of `page_size` rows within `max_bytes`.
    pub(super) fn first(page_size: usize, max_bytes: usize) -> Chunk {
        Chunk::of(page_size.min(FIRST_CHUNK_ROWS) + 1, max_bytes, 0)
    }

    /// `limit` rows sharing `max_bytes`, each at least `at_least` bytes.
    fn of(limit: usize, max_bytes: usize, at_least: usize) -> Chunk {
        let row_bytes = (max_bytes / limit).max(at_least).max(1);
        Chunk {
            limit: limit as i64,
            row_bytes: i64::try_from(row_bytes).unwrap_or(i64::MAX),
        }
    }
}

/// A row as a chunk read it.
pub(super) struct Fetched<T> {
    /// The row (without its document when `withheld`).
    pub item: T,
    /// Its document's size in bytes.
    pub bytes: usize,
    /// Whether the document was over the chunk's per-row budget and so not sent.
    pub withheld: bool,
}

impl<T> Fetched<T> {
    /// `item` as `chunk` read it, with its document's size as the database measured it.
    pub(super) fn new(item: T, bytes: i64, chunk: Chunk) -> Result<Fetched<T>> {
        Ok(Fetched {
            item,
            bytes: usize::try_from(bytes).unwrap_or(0),
            withheld: bytes > chunk.row_bytes,
        })
    }
}

/// The rows of a page, and whether more rows follow it.
pub(super) struct Read<T> {
    /// The rows, in listing order.
    pub items: Vec<T>,
    /// Whether the listing continues after the last of them.
    pub more: bool,
}

/// Reads a page of at most `page_size` rows whose documents add up to at most `max_bytes`
/// (but at least one row, so paging always progresses). `fetch` runs one chunk: the rows
/// after the given one (the page's start for `None`), in listing order.
pub(super) fn read<T>(
    page_size: usize,
    max_bytes: usize,
    mut fetch: impl FnMut(Option<&T>, Chunk) -> Result<Vec<Fetched<T>>>,
) -> Result<Read<T>> {
    let max_bytes = max_bytes.max(1);
    let mut items: Vec<T> = Vec::new();
    let mut total = 0usize;
    let mut chunk = Chunk::first(page_size, max_bytes);
    loop {
        let rows = fetch(items.last(), chunk)?;
        let exhausted = (rows.len() as i64) < chunk.limit;
        let mut withheld = None;
        for row in rows {
            let full = items.len() == page_size
                || (!items.is_empty() && total.saturating_add(row.bytes) > max_bytes);
            if full {
                return Ok(Read { items, more: true });
            }
            if row.withheld {
                withheld = Some(row.bytes);
                break;
            }
            total += row.bytes;
            items.push(row.item);
        }
        let remaining = page_size - items.len();
        chunk = match withheld {
            // That row next, with as many rows as fit beside it.
            Some(bytes) => {
                let rows = (max_bytes / bytes.max(1)).clamp(1, remaining);
                Chunk::of(rows + 1, max_bytes, bytes)
            }
            None if exhausted => return Ok(Read { items, more: false }),
            // Only the look-ahead row is missing: whether more follow, not its document.
            None if remaining == 0 => Chunk {
                limit: 1,
                row_bytes: 0,
            },
            // Rows whose documents are expected to fill about half the cap, each allowed
            // twice the average seen so far.
            None => {
                let average = (total / items.len().max(1)).max(1);
                let rows = (max_bytes / (2 * average)).clamp(1, remaining);
                Chunk::of(rows + 1, max_bytes, 0)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages `sizes` (document sizes, in listing order) as [`read`] would, recording the
    /// chunks asked for.
    fn page(
        sizes: &[usize],
        start: usize,
        page_size: usize,
        max: usize,
    ) -> (Vec<usize>, bool, Vec<Chunk>) {
        let mut chunks = Vec::new();
        let read = read(page_size, max, |after: Option<&usize>, chunk| {
            chunks.push(chunk);
            let from = after.map_or(start, |i| i + 1);
            Ok((from..sizes.len())
                .take(chunk.limit as usize)
                .map(|i| Fetched {
                    item: i,
                    bytes: sizes[i],
                    withheld: sizes[i] as i64 > chunk.row_bytes,
                })
                .collect())
        })
        .unwrap();
        (read.items, read.more, chunks)
    }

    /// Every page of `sizes`, checking each chunk's memory bound on the way.
    fn pages(sizes: &[usize], page_size: usize, max: usize) -> Vec<Vec<usize>> {
        let mut pages = Vec::new();
        let mut start = 0;
        loop {
            let (items, more, chunks) = page(sizes, start, page_size, max);
            for chunk in &chunks {
                let biggest = sizes.iter().max().copied().unwrap_or(0);
                assert!(
                    chunk.limit as usize * chunk.row_bytes as usize <= 2 * max.max(biggest),
                    "{chunk:?} may carry more than twice the cap"
                );
            }
            start = items.last().map_or(start, |i| i + 1);
            pages.push(items);
            if !more {
                return pages;
            }
        }
    }

    fn check(sizes: &[usize], page_size: usize, max: usize) -> Vec<Vec<usize>> {
        let pages = pages(sizes, page_size, max);
        let all: Vec<usize> = pages.iter().flatten().copied().collect();
        assert_eq!(
            all,
            (0..sizes.len()).collect::<Vec<_>>(),
            "no row skipped or repeated"
        );
        for page in &pages {
            assert!(!page.is_empty() || sizes.is_empty());
            assert!(page.len() <= page_size);
            let bytes: usize = page.iter().map(|i| sizes[*i]).sum();
            assert!(page.len() == 1 || bytes <= max, "{page:?}: {bytes} bytes");
        }
        pages
    }

    #[test]
    fn small_documents_fill_pages_in_one_query() {
        let sizes = vec![10; 120];
        let (items, more, chunks) = page(&sizes, 0, 50, 1 << 20);
        assert_eq!((items.len(), more), (50, true));
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].limit, 51);
        let pages = check(&sizes, 50, 1 << 20);
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [50, 50, 20]);
    }

    #[test]
    fn large_documents_end_pages_early_within_the_cap() {
        let sizes: Vec<usize> = (0..200).map(|i| 100 + (i * 37) % 400).collect();
        let pages = check(&sizes, 10_000, 4_000);
        assert!(pages.len() > 10, "{} pages", pages.len());
    }

    #[test]
    fn a_document_over_the_cap_is_a_page_of_its_own() {
        let sizes = [10, 10, 5_000, 10, 9_000, 9_000, 10];
        let pages = check(&sizes, 100, 1_000);
        assert_eq!(
            pages,
            [vec![0, 1], vec![2], vec![3], vec![4], vec![5], vec![6]]
        );
    }

    #[test]
    fn small_then_large_documents_are_never_read_in_one_large_chunk() {
        let mut sizes = vec![1; 150];
        sizes.extend(std::iter::repeat_n(100_000, 30));
        sizes.extend(std::iter::repeat_n(3, 500));
        check(&sizes, 10_000, 50_000);
        check(&sizes, 7, 50_000);
        check(&[], 10, 10);
    }
}
