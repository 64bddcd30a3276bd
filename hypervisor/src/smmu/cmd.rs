//! SMMUv3 commands (specification section 4) and the index arithmetic of its circular
//! queues (section 3.5): an index is `log2` bits of position plus one wrap bit above them;
//! the queue is empty when producer and consumer are equal, full when only the wrap bits
//! differ.

/// One command: two 64-bit words.
pub type Cmd = [u64; 2];

/// CMD_CFGI_STE: the SMMU drops what it cached of stream `sid`'s STE.
pub fn cfgi_ste(sid: u32) -> Cmd {
    [0x03 | (u64::from(sid) << 32), 1] // Leaf = 1: only the STE, no descriptor below it
}

/// CMD_CFGI_ALL (CFGI_STE_RANGE with Range = 31): every cached configuration.
pub fn cfgi_all() -> Cmd {
    [0x04, 31]
}

/// CMD_TLBI_S12_VMALL: every TLB entry and cached walk of VMID `vmid`, stages 1 and 2.
pub fn tlbi_s12_vmall(vmid: u16) -> Cmd {
    [0x28 | (u64::from(vmid) << 32), 0]
}

/// CMD_TLBI_S2_IPA for the 4 KiB page at `ipa` of VMID `vmid`; Leaf = 0, so cached walks
/// through that address go too.
pub fn tlbi_s2_ipa(vmid: u16, ipa: u64) -> Cmd {
    [0x2a | (u64::from(vmid) << 32), ipa & 0x000f_ffff_ffff_f000]
}

/// CMD_TLBI_NSNH_ALL: every Non-secure, non-EL2 TLB entry.
pub fn tlbi_nsnh_all() -> Cmd {
    [0x30, 0]
}

/// CMD_TLBI_EL2_ALL: every EL2 TLB entry (valid only with IDR0.HYP).
pub fn tlbi_el2_all() -> Cmd {
    [0x20, 0]
}

/// CMD_SYNC with CS = SIG_NONE: completes when every earlier command has; the producer
/// sees it by the consumer index passing it.
pub fn sync() -> Cmd {
    [0x46, 0]
}

/// A circular queue of 2^`log2` entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    /// log2 of the number of entries.
    pub log2: u32,
}

impl Ring {
    /// Entries.
    pub const fn entries(&self) -> u32 {
        1 << self.log2
    }

    /// Position plus wrap bit of a register value (the bits above are flags).
    pub const fn index(&self, reg: u32) -> u32 {
        reg & ((2 << self.log2) - 1)
    }

    /// The entry an index points at.
    pub const fn slot(&self, index: u32) -> usize {
        (index & (self.entries() - 1)) as usize
    }

    /// The index after `index`, flipping the wrap bit past the end.
    pub const fn next(&self, index: u32) -> u32 {
        self.index(index.wrapping_add(1))
    }

    /// Entries written and not yet consumed.
    pub const fn used(&self, prod: u32, cons: u32) -> u32 {
        self.index(self.index(prod).wrapping_sub(self.index(cons)))
    }

    /// Whether the producer cannot write another entry.
    pub const fn full(&self, prod: u32, cons: u32) -> bool {
        self.used(prod, cons) == self.entries()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_encode_opcode_and_operands() {
        assert_eq!(cfgi_ste(0x1234), [0x1234_0000_0003, 1]);
        assert_eq!(cfgi_all(), [0x04, 31]);
        assert_eq!(tlbi_s12_vmall(0), [0x28, 0]);
        assert_eq!(tlbi_s12_vmall(7)[0] >> 32, 7);
        assert_eq!(tlbi_s2_ipa(0, 0x4820_3abc), [0x2a, 0x4820_3000]);
        assert_eq!(tlbi_s2_ipa(0, 0x4820_3000)[1] & 1, 0, "Leaf = 0: walks too");
        assert_eq!(tlbi_nsnh_all()[0], 0x30);
        assert_eq!(tlbi_el2_all()[0], 0x20);
        assert_eq!(sync(), [0x46, 0], "CS = SIG_NONE, no MSI");
    }

    #[test]
    fn queue_indexes_wrap_with_the_wrap_bit() {
        let q = Ring { log2: 2 }; // four entries, wrap bit is bit 2
        assert_eq!(q.entries(), 4);
        assert_eq!(q.next(3), 4, "past the end: slot 0, wrap set");
        assert_eq!(q.slot(4), 0);
        assert_eq!(q.next(7), 0, "wrap clears again");
        assert!(!q.full(0, 0) && q.used(0, 0) == 0);
        assert!(q.full(4, 0), "same slot, wrap differs: full");
        assert!(q.full(2, 6));
        assert_eq!(q.used(1, 6), 3);
        assert_eq!(q.used(6, 3), 3, "prod wrapped, cons not");
        // Flag bits above the index (CMDQ_CONS.ERR, EVENTQ_PROD.OVFLG) are ignored.
        assert_eq!(q.index(0x8100_0005), 5);
        assert_eq!(q.used(0x8000_0001, 1), 0);
    }
}
