//! ControlFileData, the start of `global/pg_control`, decoded from its bytes
//! for every `pg_control_version` of PostgreSQL 10 to 18
//! (`pg::controldata` reads the file and says why it is read here rather
//! than by `pg_controldata`).
//!
//! The struct is in the host's byte order and alignment. Its first fields
//! never move (system identifier, `pg_control_version`, state, last
//! checkpoint); the copy of the last checkpoint record and the settings
//! after it moved with the majors, so [`LAYOUTS`] gives, for each version,
//! where the fields we need are and where the CRC-32C is, which the server
//! computes over every byte before it. The CRC is always checked: a layout
//! we do not know, a file of another platform or a torn read is refused,
//! never misread. The layouts are those of 64-bit platforms (8-byte
//! alignment of 64-bit fields); elsewhere every version is unknown.
//!
//! This file depends on nothing else in the crate: the integration tests
//! (`controlfile`) include it to check it against the control files of
//! real servers of every major.

/// The majors whose control file (here) and WAL (`pg::walrecord`) the agent
/// reads itself; for another, it needs the tools of that major.
pub const NATIVE_MAJORS: std::ops::RangeInclusive<u32> = 10..=18;

/// Why bytes were not decoded as a control file.
#[derive(Debug, PartialEq, Eq)]
pub enum Decode {
    /// A `pg_control_version` without a layout in [`LAYOUTS`].
    UnknownVersion(u32),
    /// A known version whose CRC does not match, or a file too short.
    Invalid(String),
}

/// The CRC of the control file (and of WAL records): CRC-32C (Castagnoli).
pub const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// pg_control is written as a whole file of this size (the struct at its
/// start, zeros after).
pub const CONTROL_FILE_SIZE: u64 = 8192;

/// Where the fields read sit in one `pg_control_version`'s ControlFileData
/// (byte offsets; 64-bit alignment). The first fields never move:
/// `system_identifier` at 0, `pg_control_version` at 8, `state` at 16,
/// `checkPoint` at 32; in the copy of the checkpoint record, `redo` is at
/// its start and `ThisTimeLineID` 8 bytes in.
#[derive(Debug)]
pub struct Layout {
    pub version: u32,
    /// The majors that write it, for messages.
    pub majors: &'static str,
    /// `checkPointCopy`: after `prevCheckPoint` in 10 (removed in 11).
    pub checkpoint_copy: usize,
    /// `wal_level` (an int), after the recovery and backup positions; the
    /// checkpoint record grew by 8 bytes in 12 (a 64-bit `nextXid`).
    pub wal_level: usize,
    /// `wal_log_hints` (a bool).
    pub wal_log_hints: usize,
    /// `data_checksum_version` (0: no checksums).
    pub data_checksum_version: usize,
    /// `crc`, over every byte before it: the struct's end moved in 12
    /// (`max_wal_senders` added), 13 (`float4ByVal` removed, same offset)
    /// and 18 (`default_char_signedness` added).
    pub crc: usize,
}

/// Every `pg_control_version` of PostgreSQL 10 to 18 (checked against the
/// servers by the integration tests, `controlfile`).
pub const LAYOUTS: &[Layout] = &[
    Layout {
        version: 1002,
        majors: "10",
        checkpoint_copy: 48,
        wal_level: 172,
        wal_log_hints: 176,
        data_checksum_version: 252,
        crc: 288,
    },
    Layout {
        version: 1100,
        majors: "11",
        checkpoint_copy: 40,
        wal_level: 164,
        wal_log_hints: 168,
        data_checksum_version: 244,
        crc: 280,
    },
    Layout {
        version: 1201,
        majors: "12",
        checkpoint_copy: 40,
        wal_level: 172,
        wal_log_hints: 176,
        data_checksum_version: 252,
        crc: 288,
    },
    Layout {
        version: 1300,
        majors: "13 to 16",
        checkpoint_copy: 40,
        wal_level: 172,
        wal_log_hints: 176,
        data_checksum_version: 252,
        crc: 288,
    },
    // 17: the checkpoint record gained `wal_level` in its padding.
    Layout {
        version: 1700,
        majors: "17",
        checkpoint_copy: 40,
        wal_level: 172,
        wal_log_hints: 176,
        data_checksum_version: 252,
        crc: 288,
    },
    Layout {
        version: 1800,
        majors: "18",
        checkpoint_copy: 40,
        wal_level: 172,
        wal_log_hints: 176,
        data_checksum_version: 252,
        crc: 292,
    },
];

/// The fields of a control file the agent uses, as stored (codes, not text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlFile {
    pub version: u32,
    /// The majors that write this version.
    pub majors: &'static str,
    pub system_identifier: u64,
    /// DBState: [`state_text`].
    pub state: u32,
    /// The last checkpoint record.
    pub checkpoint: u64,
    /// Its REDO point and timeline.
    pub redo: u64,
    pub timeline: u32,
    /// [`wal_level_text`].
    pub wal_level: u32,
    pub wal_log_hints: bool,
    pub data_checksum_version: u32,
}

/// `bytes` (the start of `global/pg_control`) decoded, once its CRC checks.
pub fn decode(bytes: &[u8]) -> Result<ControlFile, Decode> {
    let u32_at = |off: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(
            bytes.get(off..off + 4)?.try_into().ok()?,
        ))
    };
    let u64_at = |off: usize| -> Option<u64> {
        Some(u64::from_ne_bytes(
            bytes.get(off..off + 8)?.try_into().ok()?,
        ))
    };
    let version = u32_at(8).ok_or_else(|| {
        Decode::Invalid(format!(
            "{} bytes: too short for a control file",
            bytes.len()
        ))
    })?;
    let layout = match LAYOUTS.iter().find(|l| l.version == version) {
        Some(l) if cfg!(target_pointer_width = "64") => l,
        _ => return Err(Decode::UnknownVersion(version)),
    };
    let named = |why: String| {
        Decode::Invalid(format!(
            "{why} (pg_control version {version}, PostgreSQL {})",
            layout.majors
        ))
    };
    let stored = u32_at(layout.crc)
        .ok_or_else(|| named(format!("{} bytes: the file is truncated", bytes.len())))?;
    let computed = CRC32C.checksum(&bytes[..layout.crc]);
    if stored != computed {
        return Err(named(format!(
            "CRC-32C mismatch: {stored:08X} stored, {computed:08X} computed (a torn or \
             damaged file)"
        )));
    }
    // Every offset below is before the CRC, so in `bytes`.
    let at32 = |off| u32_at(off).unwrap_or_default();
    let at64 = |off| u64_at(off).unwrap_or_default();
    Ok(ControlFile {
        version,
        majors: layout.majors,
        system_identifier: at64(0),
        state: at32(16),
        checkpoint: at64(32),
        redo: at64(layout.checkpoint_copy),
        timeline: at32(layout.checkpoint_copy + 8),
        wal_level: at32(layout.wal_level),
        wal_log_hints: bytes[layout.wal_log_hints] != 0,
        data_checksum_version: at32(layout.data_checksum_version),
    })
}

/// DBState as `pg_controldata` prints it (the same codes in 10 to 18).
pub fn state_text(code: u32) -> &'static str {
    match code {
        0 => "starting up",
        1 => "shut down",
        2 => "shut down in recovery",
        3 => "shutting down",
        4 => "in crash recovery",
        5 => "in archive recovery",
        6 => "in production",
        _ => "unrecognized status code",
    }
}

/// WalLevel as `pg_controldata` prints it (10 to 18).
pub fn wal_level_text(code: u32) -> &'static str {
    match code {
        0 => "minimal",
        1 => "replica",
        2 => "logical",
        _ => "unrecognized wal_level",
    }
}
