//! WAL records read from the segment files of a data directory's `pg_wal`,
//! for PostgreSQL 10 to 18, without pg_waldump.
//!
//! PAF's switchover check looks for the old primary's shutdown checkpoint
//! among the records the designated standby received
//! (agents/pgsqlms/switchover.rs). pg_waldump can answer only when it is of
//! the server's own major, which some packagings do not ship beside the
//! server; the few parts of the WAL format the check needs have not changed
//! from 10 to 18, so they are read here:
//!
//! - a segment is a sequence of pages (`xlp_xlog_blcksz`, 8 kB by default)
//!   named `<timeline><segment number>` in `pg_wal`; each page starts with
//!   a header: 24 bytes (`XLogPageHeaderData`, MAXALIGNed), 40 on the
//!   segment's first page (`XLogLongPageHeaderData`, which also gives the
//!   segment and page sizes). The page magic (`xlp_magic`) changes with
//!   every major and is not checked; the page's own address
//!   (`xlp_pageaddr`) is, so that a recycled segment's stale pages end the
//!   WAL instead of being read as records;
//! - a record starts at a MAXALIGNed (8-byte) position with the 24-byte
//!   `XLogRecord` header (`xl_tot_len`, `xl_xid`, `xl_prev`, `xl_info`,
//!   `xl_rmid`, two bytes of padding, `xl_crc`), itself split across pages
//!   when it must be: the rest of a record goes on after the next page's
//!   header, which says so (`XLP_FIRST_IS_CONTRECORD`, `xlp_rem_len`);
//! - `xl_crc` is the CRC-32C of the record after the header, then of the
//!   header up to `xl_crc`: a record whose CRC does not match (a torn write,
//!   the end of the WAL, another byte order) is refused, never misread;
//! - a checkpoint record is rmgr XLOG (0) with `xl_info & 0xF0` 0x00
//!   (shutdown) or 0x10 (online); its main data, the `CheckPoint` struct,
//!   starts with the REDO location and the timeline, in the same place in
//!   every major. `XLOG_SWITCH` (0x40) ends its segment.
//!
//! This file depends on nothing else in the crate: the integration tests
//! (`controlfile`) include it to check it against real WAL of every major.

use std::path::{Path, PathBuf};

/// CRC-32C (Castagnoli), as PostgreSQL computes it.
const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// `XLogRecord`.
pub const RECORD_HEADER: u64 = 24;
/// `XLogPageHeaderData`, MAXALIGNed.
const SHORT_PAGE_HEADER: u64 = 24;
/// `XLogLongPageHeaderData`.
const LONG_PAGE_HEADER: u64 = 40;
const XLP_FIRST_IS_CONTRECORD: u16 = 0x0001;
const XLP_LONG_HEADER: u16 = 0x0002;
/// The XLOG resource manager and its record types (`xl_info & 0xF0`).
pub const RM_XLOG: u8 = 0;
pub const XLOG_CHECKPOINT_SHUTDOWN: u8 = 0x00;
pub const XLOG_CHECKPOINT_ONLINE: u8 = 0x10;
pub const XLOG_SWITCH: u8 = 0x40;
/// The block ids that introduce a record's main data (short, long length).
const XLR_BLOCK_ID_DATA_SHORT: u8 = 255;
const XLR_BLOCK_ID_DATA_LONG: u8 = 254;
/// The longest record read (PostgreSQL's own limit is 1 GB).
const MAX_RECORD: u64 = 1 << 30;

/// One record, whole (header and data), its CRC checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Where it starts.
    pub lsn: u64,
    /// Where it ends (the next record starts at this, MAXALIGNed).
    pub end: u64,
    pub prev: u64,
    pub rmid: u8,
    pub info: u8,
    /// `xl_tot_len` bytes: the header, then the data.
    pub bytes: Vec<u8>,
}

impl Record {
    /// A checkpoint record's REDO location and timeline (`CheckPoint.redo`,
    /// `ThisTimeLineID`) with whether it is a shutdown checkpoint; `None`
    /// for any other record.
    pub fn checkpoint(&self) -> Option<(bool, u64, u32)> {
        let kind = self.info & 0xF0;
        if self.rmid != RM_XLOG
            || (kind != XLOG_CHECKPOINT_SHUTDOWN && kind != XLOG_CHECKPOINT_ONLINE)
        {
            return None;
        }
        let b = &self.bytes[RECORD_HEADER as usize..];
        let main = match *b.first()? {
            XLR_BLOCK_ID_DATA_SHORT => b.get(2..)?,
            XLR_BLOCK_ID_DATA_LONG => b.get(5..)?,
            _ => return None,
        };
        let redo = u64::from_ne_bytes(main.get(0..8)?.try_into().ok()?);
        let tli = u32::from_ne_bytes(main.get(8..12)?.try_into().ok()?);
        Some((kind == XLOG_CHECKPOINT_SHUTDOWN, redo, tli))
    }

    /// An XLOG_CHECKPOINT_SHUTDOWN record of `timeline`.
    pub fn is_shutdown_checkpoint_of(&self, timeline: u32) -> bool {
        self.checkpoint()
            .is_some_and(|(shutdown, _, tli)| shutdown && tli == timeline)
    }

    /// Where the record after this one starts.
    pub fn next(&self) -> u64 {
        maxalign(self.end)
    }
}

fn maxalign(x: u64) -> u64 {
    (x + 7) & !7
}

/// The WAL of one timeline in one directory (`pg_wal`).
pub struct Wal {
    dir: PathBuf,
    timeline: u32,
    seg_size: u64,
    page_size: u64,
    /// The segment last read: its number and bytes.
    cached: Option<(u64, Vec<u8>)>,
    read: fn(&Path, u64) -> std::io::Result<Vec<u8>>,
}

impl Wal {
    /// The WAL of `timeline` in `dir`; the segment and page sizes come from
    /// the long page header of one of its segments. `read` reads at most
    /// that many bytes of a file (the agent's reads root's way,
    /// `os::fs::read_regular`).
    pub fn open(
        dir: &Path,
        timeline: u32,
        read: fn(&Path, u64) -> std::io::Result<Vec<u8>>,
    ) -> Result<Wal, String> {
        let prefix = format!("{timeline:08X}");
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| {
                n.len() == 24 && n.starts_with(&prefix) && n.bytes().all(|b| b.is_ascii_hexdigit())
            })
            .collect();
        names.sort();
        let name = names
            .last()
            .ok_or_else(|| format!("no WAL segment of timeline {timeline} in {}", dir.display()))?;
        let path = dir.join(name);
        let head = read(&path, LONG_PAGE_HEADER)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let (seg_size, page_size) = long_header_sizes(&head)
            .ok_or_else(|| format!("{}: no valid long page header", path.display()))?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            timeline,
            seg_size,
            page_size,
            cached: None,
            read,
        })
    }

    /// The segment file that holds `lsn`.
    pub fn segment_name(&self, lsn: u64) -> String {
        let segno = lsn / self.seg_size;
        let per_id = 0x1_0000_0000 / self.seg_size;
        format!(
            "{:08X}{:08X}{:08X}",
            self.timeline,
            segno / per_id,
            segno % per_id
        )
    }

    /// The page that starts at `page_lsn`, its header checked.
    fn page(&mut self, page_lsn: u64) -> Result<&[u8], String> {
        let segno = page_lsn / self.seg_size;
        if self.cached.as_ref().is_none_or(|(n, _)| *n != segno) {
            let path = self.dir.join(self.segment_name(page_lsn));
            let bytes = (self.read)(&path, self.seg_size)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            self.cached = Some((segno, bytes));
        }
        let (_, bytes) = self.cached.as_ref().expect("cached above");
        let off = (page_lsn % self.seg_size) as usize;
        let page = bytes
            .get(off..off + self.page_size as usize)
            .ok_or_else(|| format!("WAL ends at {}: short segment", fmt_lsn(page_lsn)))?;
        let addr = u64::from_ne_bytes(page[8..16].try_into().expect("8 bytes"));
        if addr != page_lsn {
            return Err(format!(
                "WAL ends at {}: the page there is of {} (a recycled or empty page)",
                fmt_lsn(page_lsn),
                fmt_lsn(addr)
            ));
        }
        Ok(page)
    }

    fn page_header_size(&self, page: &[u8]) -> u64 {
        let info = u16::from_ne_bytes([page[2], page[3]]);
        if info & XLP_LONG_HEADER != 0 {
            LONG_PAGE_HEADER
        } else {
            SHORT_PAGE_HEADER
        }
    }

    /// The `n` bytes of the record that starts at `lsn`, skipping the
    /// headers of the pages it goes on to (each must say that it continues
    /// a record with the number of bytes left); with the position after its
    /// last byte.
    fn bytes_at(&mut self, lsn: u64, n: u64) -> Result<(Vec<u8>, u64), String> {
        let mut out = Vec::with_capacity(n as usize);
        let mut pos = lsn;
        while (out.len() as u64) < n {
            let page_lsn = pos - pos % self.page_size;
            let page_size = self.page_size;
            let page = self.page(page_lsn)?.to_vec();
            let header = self.page_header_size(&page);
            if pos == page_lsn {
                // Continuing onto a new page.
                let info = u16::from_ne_bytes([page[2], page[3]]);
                let rem = u64::from(u32::from_ne_bytes(page[16..20].try_into().expect("4")));
                let left = n - out.len() as u64;
                if info & XLP_FIRST_IS_CONTRECORD == 0 || rem != left {
                    return Err(format!(
                        "the record at {} does not go on at {} (contrecord flag {}, {rem} \
                         bytes left there, {left} expected)",
                        fmt_lsn(lsn),
                        fmt_lsn(page_lsn),
                        info & XLP_FIRST_IS_CONTRECORD
                    ));
                }
                pos += header;
            }
            let start = (pos - page_lsn) as usize;
            let take = (page_size - (pos - page_lsn)).min(n - out.len() as u64) as usize;
            out.extend_from_slice(&page[start..start + take]);
            pos += take as u64;
        }
        Ok((out, pos))
    }

    /// The record at `lsn` (a record's start; at a page's start, the first
    /// record of that page, after its header), its CRC checked.
    pub fn record_at(&mut self, lsn: u64) -> Result<Record, String> {
        let mut start = lsn;
        if start.is_multiple_of(self.page_size) {
            let page = self.page(start)?.to_vec();
            start += self.page_header_size(&page);
        }
        if !start.is_multiple_of(8) {
            return Err(format!("{}: not a record's position", fmt_lsn(start)));
        }
        // `xl_tot_len` is on the record's first page: a record starts
        // 8-aligned, at least 8 bytes before the page's end.
        let page_lsn = start - start % self.page_size;
        let off = (start - page_lsn) as usize;
        let page = self.page(page_lsn)?;
        let tot_len = u64::from(u32::from_ne_bytes(
            page[off..off + 4].try_into().expect("4 bytes"),
        ));
        if !(RECORD_HEADER..=MAX_RECORD).contains(&tot_len) {
            return Err(format!(
                "WAL ends at {}: invalid record length {tot_len}",
                fmt_lsn(start)
            ));
        }
        let (bytes, end) = self.bytes_at(start, tot_len)?;
        let stored = u32::from_ne_bytes(bytes[20..24].try_into().expect("4"));
        let mut digest = CRC32C.digest();
        digest.update(&bytes[RECORD_HEADER as usize..]);
        digest.update(&bytes[..20]);
        let computed = digest.finalize();
        if stored != computed {
            return Err(format!(
                "WAL ends at {}: record CRC-32C mismatch ({stored:08X} stored, {computed:08X} \
                 computed)",
                fmt_lsn(start)
            ));
        }
        Ok(Record {
            lsn: start,
            end,
            prev: u64::from_ne_bytes(bytes[8..16].try_into().expect("8")),
            info: bytes[16],
            rmid: bytes[17],
            bytes,
        })
    }

    /// Where the record after `rec` starts: MAXALIGNed after its end, or
    /// the next segment after a WAL switch.
    pub fn next_of(&self, rec: &Record) -> u64 {
        if rec.rmid == RM_XLOG && rec.info & 0xF0 == XLOG_SWITCH {
            (rec.end.div_ceil(self.seg_size)) * self.seg_size
        } else {
            rec.next()
        }
    }

    /// Calls `f` with each record that starts in `[from, to)`, each linked
    /// to the one before (`xl_prev`), one at a time (a long stretch of WAL
    /// is not held in memory); stops at the first that cannot be read.
    /// Returns how many were read.
    pub fn scan(&mut self, from: u64, to: u64, mut f: impl FnMut(&Record)) -> Result<u64, String> {
        let mut count = 0;
        let mut prev: Option<u64> = None;
        let mut pos = from;
        while pos < to {
            let rec = self.record_at(pos)?;
            if rec.lsn >= to {
                break;
            }
            if let Some(prev) = prev.filter(|p| *p != rec.prev) {
                return Err(format!(
                    "WAL ends at {}: its previous record is {}, not {}",
                    fmt_lsn(rec.lsn),
                    fmt_lsn(rec.prev),
                    fmt_lsn(prev)
                ));
            }
            f(&rec);
            count += 1;
            prev = Some(rec.lsn);
            pos = self.next_of(&rec);
        }
        Ok(count)
    }

    /// The records [`Wal::scan`] reads, kept (for the tests).
    #[cfg(test)]
    pub fn records(&mut self, from: u64, to: u64) -> Result<Vec<Record>, String> {
        let mut out = Vec::new();
        self.scan(from, to, |r| out.push(r.clone()))?;
        Ok(out)
    }
}

/// The segment and page sizes of a segment's long page header, if sane.
fn long_header_sizes(head: &[u8]) -> Option<(u64, u64)> {
    let info = u16::from_ne_bytes(head.get(2..4)?.try_into().ok()?);
    let seg = u64::from(u32::from_ne_bytes(head.get(32..36)?.try_into().ok()?));
    let page = u64::from(u32::from_ne_bytes(head.get(36..40)?.try_into().ok()?));
    let sane = info & XLP_LONG_HEADER != 0
        && seg.is_power_of_two()
        && (1 << 20..=1 << 30).contains(&seg)
        && page.is_power_of_two()
        && (1 << 10..=1 << 16).contains(&page);
    sane.then_some((seg, page))
}

/// PostgreSQL's `X/Y`.
pub fn fmt_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEG: u64 = 1 << 20;
    const PAGE: u64 = 8192;
    /// The first segment of these tests: 0/3000000 on timeline 5.
    const BASE: u64 = 3 * SEG;

    /// Lays records out as the server does, in one segment.
    struct Builder {
        seg: Vec<u8>,
        pos: u64,
        prev: u64,
    }

    impl Builder {
        fn new() -> Builder {
            Builder {
                seg: vec![0; SEG as usize],
                pos: BASE,
                prev: 0,
            }
        }

        /// A page header at `pos` (a page's start), `rem` bytes of a record
        /// continuing there.
        fn page_header(&mut self, rem: u64) {
            let off = (self.pos - BASE) as usize;
            let long = off == 0;
            let mut info = if long { XLP_LONG_HEADER } else { 0 };
            if rem > 0 {
                info |= XLP_FIRST_IS_CONTRECORD;
            }
            let h = &mut self.seg[off..];
            h[0..2].copy_from_slice(&0xD10Du16.to_ne_bytes());
            h[2..4].copy_from_slice(&info.to_ne_bytes());
            h[4..8].copy_from_slice(&5u32.to_ne_bytes());
            h[8..16].copy_from_slice(&self.pos.to_ne_bytes());
            h[16..20].copy_from_slice(&(rem as u32).to_ne_bytes());
            if long {
                h[32..36].copy_from_slice(&(SEG as u32).to_ne_bytes());
                h[36..40].copy_from_slice(&(PAGE as u32).to_ne_bytes());
            }
            self.pos += if long {
                LONG_PAGE_HEADER
            } else {
                SHORT_PAGE_HEADER
            };
        }

        /// A record of `data_len` data bytes; returns its position.
        fn record(&mut self, rmid: u8, info: u8, data: &[u8]) -> u64 {
            self.pos = maxalign(self.pos);
            if self.pos.is_multiple_of(PAGE) {
                self.page_header(0);
            }
            let lsn = self.pos;
            let tot = RECORD_HEADER as usize + data.len();
            let mut rec = vec![0u8; tot];
            rec[0..4].copy_from_slice(&(tot as u32).to_ne_bytes());
            rec[8..16].copy_from_slice(&self.prev.to_ne_bytes());
            rec[16] = info;
            rec[17] = rmid;
            rec[24..].copy_from_slice(data);
            let mut d = CRC32C.digest();
            d.update(&rec[24..]);
            d.update(&rec[..20]);
            rec[20..24].copy_from_slice(&d.finalize().to_ne_bytes());
            let mut done = 0;
            while done < tot {
                if self.pos.is_multiple_of(PAGE) {
                    self.page_header((tot - done) as u64);
                }
                let room = (PAGE - self.pos % PAGE) as usize;
                let n = room.min(tot - done);
                let off = (self.pos - BASE) as usize;
                self.seg[off..off + n].copy_from_slice(&rec[done..done + n]);
                done += n;
                self.pos += n as u64;
            }
            self.prev = lsn;
            lsn
        }

        fn checkpoint(&mut self, info: u8, redo: u64, tli: u32) -> u64 {
            let mut data = vec![XLR_BLOCK_ID_DATA_SHORT, 88];
            data.extend_from_slice(&redo.to_ne_bytes());
            data.extend_from_slice(&tli.to_ne_bytes());
            data.resize(2 + 88, 0);
            self.record(RM_XLOG, info, &data)
        }

        fn write(&self, dir: &Path) {
            std::fs::write(dir.join("000000050000000000000003"), &self.seg).unwrap();
        }
    }

    fn read(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
        let mut b = std::fs::read(path)?;
        b.truncate(max as usize);
        Ok(b)
    }

    #[test]
    fn records_across_pages_with_split_headers() {
        let mut b = Builder::new();
        let mut lsns = vec![b.record(10, 0x20, &[1; 50])];
        // Up to 20 bytes before a page's end: the next header is split.
        let room = PAGE - maxalign(b.pos) % PAGE;
        lsns.push(b.record(10, 0, &vec![2; (room - 16 - 24) as usize]));
        assert_eq!(PAGE - b.pos % PAGE, 16);
        lsns.push(b.record(11, 0x30, &[3; 40]));
        // Two whole pages and more.
        lsns.push(b.record(12, 0, &vec![4; 3 * PAGE as usize]));
        let shutdown = b.checkpoint(XLOG_CHECKPOINT_SHUTDOWN, 0x3000028, 5);
        lsns.push(shutdown);
        let dir = tempfile::tempdir().unwrap();
        b.write(dir.path());

        let mut wal = Wal::open(dir.path(), 5, read).unwrap();
        assert_eq!(wal.segment_name(BASE + 10), "000000050000000000000003");
        let recs = wal.records(BASE, u64::MAX).unwrap_err();
        assert!(recs.contains("WAL ends at"), "{recs}");
        let recs = wal.records(BASE, b.pos).unwrap();
        assert_eq!(recs.iter().map(|r| r.lsn).collect::<Vec<_>>(), lsns);
        assert_eq!(
            recs[1].bytes[RECORD_HEADER as usize..],
            vec![2; recs[1].bytes.len() - 24]
        );
        assert_eq!(recs[3].bytes.len(), 24 + 3 * PAGE as usize);
        assert_eq!(recs[2].rmid, 11);
        let last = wal.record_at(shutdown).unwrap();
        assert!(last.is_shutdown_checkpoint_of(5));
        assert!(!last.is_shutdown_checkpoint_of(4));
        assert_eq!(last.checkpoint(), Some((true, 0x3000028, 5)));
        assert!(!recs[0].is_shutdown_checkpoint_of(5));
        assert_eq!(recs[0].checkpoint(), None);
    }

    #[test]
    fn online_checkpoint_and_damage() {
        let mut b = Builder::new();
        b.record(10, 0, &[1; 30]);
        let online = b.checkpoint(XLOG_CHECKPOINT_ONLINE, 0x3000028, 5);
        let big = b.record(12, 0, &vec![4; 2 * PAGE as usize]);
        let dir = tempfile::tempdir().unwrap();
        b.write(dir.path());
        let mut wal = Wal::open(dir.path(), 5, read).unwrap();
        let rec = wal.record_at(online).unwrap();
        assert_eq!(rec.checkpoint(), Some((false, 0x3000028, 5)));
        assert!(!rec.is_shutdown_checkpoint_of(5));
        assert!(wal.record_at(big).is_ok());
        assert!(wal.record_at(online + 8).is_err(), "not a record");
        assert!(wal.record_at(online + 3).is_err(), "unaligned");

        // One byte changed on the second page of the big record.
        let mut bad = b.seg.clone();
        let off = (big - BASE + PAGE + 100) as usize;
        bad[off] ^= 1;
        std::fs::write(dir.path().join("000000050000000000000003"), &bad).unwrap();
        let mut wal = Wal::open(dir.path(), 5, read).unwrap();
        let e = wal.record_at(big).unwrap_err();
        assert!(e.contains("CRC-32C mismatch"), "{e}");
        // A stale page (another address) ends the WAL.
        let mut stale = b.seg.clone();
        let page = ((big - BASE) / PAGE + 1) * PAGE;
        stale[page as usize + 8..page as usize + 16].copy_from_slice(&(BASE - SEG).to_ne_bytes());
        std::fs::write(dir.path().join("000000050000000000000003"), &stale).unwrap();
        let mut wal = Wal::open(dir.path(), 5, read).unwrap();
        let e = wal.record_at(big).unwrap_err();
        assert!(e.contains("recycled"), "{e}");
        // No segment of that timeline.
        assert!(Wal::open(dir.path(), 6, read).is_err());
    }

    #[test]
    fn segment_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Builder::new();
        b.record(10, 0, &[1; 8]);
        b.write(dir.path());
        let wal = Wal::open(dir.path(), 5, read).unwrap();
        // 1 MB segments: 4096 per 4 GB.
        assert_eq!(
            wal.segment_name((1 << 32) + 5 * SEG + 7),
            "000000050000000100000005"
        );
    }
}
