//! Event-queue records (SMMUv3 specification section 7.3), decoded into what one console
//! line and the fault counters need: the kind, the stream, the address, read or write.

use core::fmt;

/// One event record: four 64-bit words.
pub type Record = [u64; 4];

/// The event types the hypervisor names; any other is counted as `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 0x02 C_BAD_STREAMID: a stream ID beyond the stream table.
    BadStreamId,
    /// 0x03 F_STE_FETCH.
    SteFetch,
    /// 0x04 C_BAD_STE: an invalid STE (a stream the hypervisor does not translate).
    BadSte,
    /// 0x05 F_BAD_ATS_TREQ.
    BadAtsTreq,
    /// 0x06 F_STREAM_DISABLED.
    StreamDisabled,
    /// 0x0b F_WALK_EABT: the table walk hit an external abort.
    WalkAbort,
    /// 0x10 F_TRANSLATION: no mapping (a page not the host's).
    Translation,
    /// 0x11 F_ADDR_SIZE: beyond the IPA or output size.
    AddrSize,
    /// 0x12 F_ACCESS: access flag clear.
    Access,
    /// 0x13 F_PERMISSION.
    Permission,
    /// 0x20 F_TLB_CONFLICT.
    TlbConflict,
    /// 0x21 F_CFG_CONFLICT.
    CfgConflict,
    /// Any other event type.
    Other(u8),
}

impl Kind {
    /// Every named kind, in counter order ([`Kind::counter`]).
    pub const NAMED: usize = 12;

    fn from_id(id: u8) -> Self {
        match id {
            0x02 => Kind::BadStreamId,
            0x03 => Kind::SteFetch,
            0x04 => Kind::BadSte,
            0x05 => Kind::BadAtsTreq,
            0x06 => Kind::StreamDisabled,
            0x0b => Kind::WalkAbort,
            0x10 => Kind::Translation,
            0x11 => Kind::AddrSize,
            0x12 => Kind::Access,
            0x13 => Kind::Permission,
            0x20 => Kind::TlbConflict,
            0x21 => Kind::CfgConflict,
            other => Kind::Other(other),
        }
    }

    /// The event's architectural name.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::BadStreamId => "C_BAD_STREAMID",
            Kind::SteFetch => "F_STE_FETCH",
            Kind::BadSte => "C_BAD_STE",
            Kind::BadAtsTreq => "F_BAD_ATS_TREQ",
            Kind::StreamDisabled => "F_STREAM_DISABLED",
            Kind::WalkAbort => "F_WALK_EABT",
            Kind::Translation => "F_TRANSLATION",
            Kind::AddrSize => "F_ADDR_SIZE",
            Kind::Access => "F_ACCESS",
            Kind::Permission => "F_PERMISSION",
            Kind::TlbConflict => "F_TLB_CONFLICT",
            Kind::CfgConflict => "F_CFG_CONFLICT",
            Kind::Other(_) => "event",
        }
    }

    /// Index of this kind's counter: the named kinds in declaration order, then one for
    /// every other type.
    pub const fn counter(self) -> usize {
        match self {
            Kind::BadStreamId => 0,
            Kind::SteFetch => 1,
            Kind::BadSte => 2,
            Kind::BadAtsTreq => 3,
            Kind::StreamDisabled => 4,
            Kind::WalkAbort => 5,
            Kind::Translation => 6,
            Kind::AddrSize => 7,
            Kind::Access => 8,
            Kind::Permission => 9,
            Kind::TlbConflict => 10,
            Kind::CfgConflict => 11,
            Kind::Other(_) => Self::NAMED,
        }
    }

    /// Whether the record's third word holds the faulting input address.
    const fn has_address(self) -> bool {
        matches!(
            self,
            Kind::WalkAbort
                | Kind::Translation
                | Kind::AddrSize
                | Kind::Access
                | Kind::Permission
                | Kind::TlbConflict
        )
    }
}

/// A decoded event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: Kind,
    /// The stream that caused it.
    pub sid: u32,
    /// The input address (IPA, with stage 2 only), for the translation faults.
    pub addr: Option<u64>,
    /// Whether the access was a read (RnW), for the translation faults.
    pub read: bool,
    /// Whether the fault was in stage 2 (S2 bit).
    pub stage2: bool,
}

impl Event {
    /// Decodes one record: EventType in bits [7:0] and StreamID in [63:32] of word 0; for
    /// the translation faults RnW at bit 35 and S2 at bit 39 of word 1, InputAddr in word 2.
    pub fn decode(r: &Record) -> Self {
        let kind = Kind::from_id(r[0] as u8);
        let faulting = kind.has_address();
        Event {
            kind,
            sid: (r[0] >> 32) as u32,
            addr: faulting.then_some(r[2]),
            read: faulting && (r[1] >> 35) & 1 != 0,
            stage2: faulting && (r[1] >> 39) & 1 != 0,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stream {:#x}: {}", self.sid, self.kind.name())?;
        if let Kind::Other(id) = self.kind {
            write!(f, " {id:#x}")?;
        }
        if let Some(addr) = self.addr {
            let dir = if self.read { "read" } else { "write" };
            write!(f, " ({dir} at {addr:#x})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage2_translation_fault_decodes_and_prints() {
        let r = [0x0000_0010_0000_0010, (1 << 39), 0x6000_0000, 0x6000_0000];
        let e = Event::decode(&r);
        assert_eq!(e.kind, Kind::Translation);
        assert_eq!(e.sid, 0x10);
        assert_eq!(e.addr, Some(0x6000_0000));
        assert!(!e.read && e.stage2);
        assert_eq!(
            e.to_string(),
            "stream 0x10: F_TRANSLATION (write at 0x60000000)"
        );
        let read = Event::decode(&[0x13, (1 << 35) | (1 << 39), 0x1000, 0]);
        assert_eq!(read.kind, Kind::Permission);
        assert!(read.read);
    }

    #[test]
    fn every_kind_qemu_raises_has_its_name_and_counter() {
        let ids = [
            0x02, 0x03, 0x04, 0x05, 0x06, 0x0b, 0x10, 0x11, 0x12, 0x13, 0x20, 0x21,
        ];
        for (i, id) in ids.into_iter().enumerate() {
            let e = Event::decode(&[id, 0, 0, 0]);
            assert_eq!(e.kind.counter(), i);
            assert!(e.kind.name().starts_with(['C', 'F']));
        }
        let bad = Event::decode(&[0x0000_0300_0000_0004, 0, 0xdead, 0]);
        assert_eq!((bad.kind, bad.sid, bad.addr), (Kind::BadSte, 0x300, None));
        assert_eq!(bad.to_string(), "stream 0x300: C_BAD_STE");
        let other = Event::decode(&[0x24, 0, 0, 0]);
        assert_eq!(other.kind, Kind::Other(0x24));
        assert_eq!(other.kind.counter(), Kind::NAMED);
        assert_eq!(other.to_string(), "stream 0x0: event 0x24");
    }
}
