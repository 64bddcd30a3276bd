//! Stream table entries (SMMUv3 specification, section 5.2): stage-2-only translation over
//! the host's stage-2 tables, and the entry of a stream the hypervisor does not translate;
//! and the two stream table formats (section 5.1).
//!
//! With 2-level stream tables (IDR0.ST_LEVEL), the level-1 table spans every stream ID the
//! DT names (up to 2^[`crate::budget::SMMU_STRTAB_MAX_LOG2`]) and level-2 tables of
//! 2^[`crate::budget::SMMU_STRTAB_SPLIT`] STEs are built at boot for the first
//! [`crate::budget::SMMU_L2_TABLES`] spans the DT names; every other level-1 descriptor is
//! invalid (Span = 0). Without them the table is linear: one STE per stream ID below
//! [`crate::budget::SMMU_STREAMS`] (or below 2^SIDSIZE when that is smaller). Either way a
//! stream ID without an STE is refused by the SMMU itself (C_BAD_STREAMID, recorded because
//! CR2.RECINVSID is set) and its transaction aborted.

use super::regs::S2Config;

/// One STE: eight 64-bit words.
pub type Ste = [u64; 8];

/// STE.Config = 0b110: stage 1 bypassed, stage 2 translates.
const CONFIG_S2_TRANS: u64 = 0b110;
/// STE.SHCFG = 0b01: use the incoming shareability.
const SHCFG_INCOMING: u64 = 1 << 44;
/// S2IR0/S2OR0 = write-back cacheable, S2SH0 = inner shareable: as VTCR_EL2's walks.
const S2_WALK_ATTRS: u64 = (1 << 40) | (1 << 42) | (3 << 44);
/// S2AA64: AArch64 tables.
const S2AA64: u64 = 1 << 51;
/// S2PTW: a stage-1 walk that would hit stage-2 Device memory faults (no stage 1 here; set
/// so that enabling one later cannot walk MMIO).
const S2PTW: u64 = 1 << 54;
/// S2R: record stage-2 faults in the event queue.
const S2R: u64 = 1 << 58;

/// The STE of a stream the host's devices use: V = 1, stage-2-only translation through
/// the host's stage 2 (VMID 0, as the CPUs'), 4 KiB granule (S2TG = 0), faults terminate
/// the transaction (S2S = 0) and are recorded (S2R).
pub fn stage2(s2: &S2Config) -> Ste {
    let mut ste = [0; 8];
    ste[0] = 1 | (CONFIG_S2_TRANS << 1);
    ste[1] = SHCFG_INCOMING;
    ste[2] =
        (s2.t0sz << 32) | (s2.sl0 << 38) | S2_WALK_ATTRS | (s2.ps << 48) | S2AA64 | S2PTW | S2R;
    ste[3] = s2.ttb & 0x000f_ffff_ffff_fff0;
    ste
}

/// The STE of a stream nobody may use: V = 0. A transaction on it is terminated and a
/// C_BAD_STE event recorded, so a device the hypervisor does not know shows up in the
/// event queue instead of aborting silently (Config = abort would record nothing).
pub const INVALID: Ste = [0; 8];

/// SMMU_STRTAB_BASE_CFG for a linear table of 2^`log2` entries (FMT = 0b00, LOG2SIZE).
pub fn linear_base_cfg(log2: u32) -> u32 {
    log2 & 0x3f
}

/// SMMU_STRTAB_BASE_CFG for a 2-level table spanning 2^`log2` stream IDs whose level-2
/// tables hold 2^`split` STEs (FMT = 0b01, SPLIT, LOG2SIZE).
pub fn two_level_base_cfg(log2: u32, split: u32) -> u32 {
    (1 << 16) | ((split & 0x1f) << 6) | (log2 & 0x3f)
}

/// A level-1 descriptor pointing at the level-2 table at `l2` (aligned to its size) of
/// 2^`split` STEs: L2Ptr (bits 51:6) and Span = `split` + 1 (bits 4:0).
pub fn l1_desc(l2: u64, split: u32) -> u64 {
    (l2 & 0x000f_ffff_ffff_ffc0) | u64::from(split + 1)
}

/// The level-1 descriptor of a span without a level-2 table: Span = 0, its streams abort
/// (C_BAD_STREAMID).
pub const L1_INVALID: u64 = 0;

/// The log2 of the stream table's size: every stream ID the SMMU can emit, up to `budget`
/// entries (a power of two).
pub fn table_log2(sid_bits: u32, budget: usize) -> u32 {
    sid_bits.min(budget.trailing_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage2_ste_encodes_every_field() {
        let s2 = S2Config {
            t0sz: 24,
            sl0: 2,
            ps: 4,
            ttb: 0x6012_3000,
        };
        let ste = stage2(&s2);
        assert_eq!(ste[0] & 1, 1, "valid");
        assert_eq!((ste[0] >> 1) & 7, 0b110, "stage 2 only");
        assert_eq!((ste[1] >> 44) & 3, 1, "SHCFG incoming");
        assert_eq!(ste[2] & 0xffff, 0, "S2VMID 0, the host's");
        assert_eq!((ste[2] >> 32) & 0x3f, 24, "S2T0SZ");
        assert_eq!((ste[2] >> 38) & 3, 2, "S2SL0");
        assert_eq!((ste[2] >> 40) & 3, 1, "S2IR0 WB");
        assert_eq!((ste[2] >> 42) & 3, 1, "S2OR0 WB");
        assert_eq!((ste[2] >> 44) & 3, 3, "S2SH0 inner shareable");
        assert_eq!((ste[2] >> 46) & 3, 0, "S2TG 4 KiB");
        assert_eq!((ste[2] >> 48) & 7, 4, "S2PS");
        assert_eq!((ste[2] >> 51) & 1, 1, "S2AA64");
        assert_eq!((ste[2] >> 52) & 1, 0, "S2ENDI little-endian");
        assert_eq!((ste[2] >> 53) & 1, 0, "S2AFFD: access flag faults on");
        assert_eq!((ste[2] >> 54) & 1, 1, "S2PTW");
        assert_eq!((ste[2] >> 55) & 3, 0, "no hardware AF/dirty updates");
        assert_eq!((ste[2] >> 57) & 1, 0, "S2S: terminate, no stall");
        assert_eq!((ste[2] >> 58) & 1, 1, "S2R: faults recorded");
        assert_eq!(ste[3], 0x6012_3000, "S2TTB");
        assert_eq!(&ste[4..], &[0; 4]);
        assert_eq!(INVALID[0] & 1, 0);
    }

    #[test]
    fn the_table_is_linear_and_bounded_by_the_budget() {
        assert_eq!(table_log2(16, 256), 8);
        assert_eq!(table_log2(5, 256), 5);
        assert_eq!(linear_base_cfg(8), 8);
        assert_eq!(linear_base_cfg(8) >> 16, 0, "FMT linear");
    }

    #[test]
    fn two_level_base_cfg_and_level1_descriptors_encode_their_fields() {
        let cfg = two_level_base_cfg(16, 8);
        assert_eq!(cfg & 0x3f, 16, "LOG2SIZE");
        assert_eq!((cfg >> 6) & 0x1f, 8, "SPLIT");
        assert_eq!((cfg >> 16) & 3, 1, "FMT 2-level");
        let desc = l1_desc(0x4012_4000, 8);
        assert_eq!(desc & 0x1f, 9, "Span: 2^(9-1) STEs");
        assert_eq!(desc & !0x3f, 0x4012_4000, "L2Ptr");
        assert_eq!(L1_INVALID & 0x1f, 0, "Span 0: no level-2 table");
    }
}
