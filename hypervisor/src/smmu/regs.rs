//! SMMUv3 register offsets and the ID registers decoded into what the hypervisor needs, and
//! the check that the SMMU can walk the host's stage-2 tables as the CPUs do.
//!
//! Field positions are those of the SMMUv3 architecture specification (IHI 0070), section
//! 6.3 (register map and ID registers).

use core::fmt;

use crate::mm::stage2::{Geometry, parange_bits};

/// Register offsets in the SMMU's page 0 (and page 1 for the event queue's indexes).
#[allow(missing_docs)] // the specification's register and field names
pub mod off {
    pub const IDR0: usize = 0x00;
    pub const IDR1: usize = 0x04;
    pub const IDR5: usize = 0x14;
    pub const CR0: usize = 0x20;
    pub const CR0ACK: usize = 0x24;
    pub const CR1: usize = 0x28;
    pub const CR2: usize = 0x2c;
    pub const GBPA: usize = 0x44;
    pub const IRQ_CTRL: usize = 0x50;
    pub const IRQ_CTRLACK: usize = 0x54;
    pub const GERROR: usize = 0x60;
    pub const GERRORN: usize = 0x64;
    pub const STRTAB_BASE: usize = 0x80;
    pub const STRTAB_BASE_CFG: usize = 0x88;
    pub const CMDQ_BASE: usize = 0x90;
    pub const CMDQ_PROD: usize = 0x98;
    pub const CMDQ_CONS: usize = 0x9c;
    pub const EVENTQ_BASE: usize = 0xa0;
    /// EVENTQ_PROD lives in page 1 (offset 0x10000 + 0xa8); page 0's alias is optional.
    pub const EVENTQ_PROD: usize = 0x1_00a8;
    /// EVENTQ_CONS, page 1.
    pub const EVENTQ_CONS: usize = 0x1_00ac;
    /// Bytes of MMIO the two pages take.
    pub const SIZE: u64 = 0x2_0000;
}

/// SMMU_CR0 bits.
#[allow(missing_docs)] // the specification's register and field names
pub mod cr0 {
    pub const SMMUEN: u32 = 1 << 0;
    pub const EVTQEN: u32 = 1 << 2;
    pub const CMDQEN: u32 = 1 << 3;
}

/// SMMU_GBPA: UPDATE (bit 31) starts an update, ABORT (bit 20) aborts every transaction
/// while SMMUEN is 0.
#[allow(missing_docs)] // the specification's register and field names
pub mod gbpa {
    pub const UPDATE: u32 = 1 << 31;
    pub const ABORT: u32 = 1 << 20;
}

/// SMMU_GERROR bits (active while different from SMMU_GERRORN).
#[allow(missing_docs)] // the specification's register and field names
pub mod gerror {
    pub const CMDQ_ERR: u32 = 1 << 0;
    pub const EVTQ_ABT_ERR: u32 = 1 << 2;
    pub const PRIQ_ABT_ERR: u32 = 1 << 3;
    pub const MSI_ABT_ERRS: u32 = 0xf << 4;
    pub const SFM_ERR: u32 = 1 << 8;
    /// Every bit the architecture defines.
    pub const ALL: u32 = 0x1fd;
}

fn field(v: u32, lo: u32, bits: u32) -> u32 {
    (v >> lo) & ((1 << bits) - 1)
}

/// What SMMU_IDR0, IDR1 and IDR5 say, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// IDR0.S2P: stage-2 translation.
    pub stage2: bool,
    /// IDR0.TTF: 0b10 AArch64 tables, 0b11 both formats.
    pub ttf: u32,
    /// IDR0.COHACC: table walks and queue accesses are coherent with the CPUs' caches.
    pub coherent: bool,
    /// IDR0.HYP: the EL2 translation regimes exist (CMD_TLBI_EL2_ALL is valid).
    pub hyp: bool,
    /// IDR0.VMID16.
    pub vmid16: bool,
    /// IDR0.TTENDIAN: 0b00 mixed, 0b10 little-endian only, 0b11 big-endian only.
    pub ttendian: u32,
    /// IDR0.STALL_MODEL: 0b00 stall and terminate, 0b01 terminate only, 0b10 stall forced.
    pub stall_model: u32,
    /// IDR0.ST_LEVEL: 0b01 when 2-level stream tables are supported.
    pub two_level_streams: bool,
    /// IDR1.SIDSIZE: stream ID bits.
    pub sid_bits: u32,
    /// IDR1.CMDQS: log2 of the largest command queue.
    pub cmdq_log2: u32,
    /// IDR1.EVENTQS: log2 of the largest event queue.
    pub evtq_log2: u32,
    /// IDR1.TABLES_PRESET / QUEUES_PRESET / REL: fixed or relative base addresses.
    pub preset: bool,
    /// IDR5.OAS, as the PARange-style encoding (0 = 32 bits ... 6 = 52 bits).
    pub oas: u32,
    /// IDR5.GRAN4K.
    pub gran4k: bool,
}

impl Features {
    /// Decodes the three ID registers.
    pub fn decode(idr0: u32, idr1: u32, idr5: u32) -> Self {
        Features {
            stage2: idr0 & 1 != 0,
            ttf: field(idr0, 2, 2),
            coherent: field(idr0, 4, 1) != 0,
            hyp: field(idr0, 9, 1) != 0,
            vmid16: field(idr0, 18, 1) != 0,
            ttendian: field(idr0, 21, 2),
            stall_model: field(idr0, 24, 2),
            two_level_streams: field(idr0, 27, 2) == 1,
            sid_bits: field(idr1, 0, 6),
            evtq_log2: field(idr1, 16, 5),
            cmdq_log2: field(idr1, 21, 5),
            preset: field(idr1, 28, 3) != 0,
            oas: field(idr5, 0, 3),
            gran4k: field(idr5, 4, 1) != 0,
        }
    }

    /// Output address bits (IDR5.OAS).
    pub fn oas_bits(&self) -> u32 {
        parange_bits(u64::from(self.oas))
    }
}

/// Why the SMMU cannot translate DMA through the host's stage 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// IDR0.S2P = 0.
    NoStage2,
    /// IDR0.TTF has no AArch64 format.
    NoAArch64Tables,
    /// IDR0.TTENDIAN = big-endian only.
    BigEndianOnly,
    /// IDR0.STALL_MODEL = stall forced: faults would stall the device until resumed.
    StallForced,
    /// IDR1 says the tables or queues sit at fixed or relative addresses.
    PresetBases,
    /// IDR5.GRAN4K = 0: the host's tables use the 4 KiB granule.
    No4kGranule,
    /// IDR5.OAS is smaller than the host's IPA space (identity map: IPA = PA).
    OutputTooSmall {
        /// SMMU output bits.
        oas_bits: u32,
        /// The host stage 2's IPA bits.
        ipa_bits: u32,
    },
    /// A level-0 start with the 4 KiB granule needs 44 output bits.
    Level0Start {
        /// SMMU output bits.
        oas_bits: u32,
    },
    /// S2TTB is not aligned to the root's size (two concatenated tables: 8 KiB).
    RootMisaligned {
        /// The root's address.
        root: u64,
    },
    /// IDR0.COHACC = 0: the SMMU would walk the shared tables behind the CPUs' caches.
    NotCoherent,
    /// IDR1.CMDQS or EVENTQS is 0 (a queue of one entry).
    QueueTooSmall,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::NoStage2 => f.write_str("no stage-2 translation (IDR0.S2P = 0)"),
            Mismatch::NoAArch64Tables => f.write_str("no AArch64 table format (IDR0.TTF)"),
            Mismatch::BigEndianOnly => f.write_str("big-endian tables only (IDR0.TTENDIAN)"),
            Mismatch::StallForced => f.write_str("stall model forced (IDR0.STALL_MODEL = 2)"),
            Mismatch::PresetBases => f.write_str(
                "preset or relative table/queue bases (IDR1.TABLES_PRESET/QUEUES_PRESET/REL)",
            ),
            Mismatch::No4kGranule => f.write_str("no 4 KiB granule (IDR5.GRAN4K = 0)"),
            Mismatch::OutputTooSmall { oas_bits, ipa_bits } => write!(
                f,
                "output size {oas_bits} bits (IDR5.OAS) below the host stage 2's {ipa_bits}-bit IPA space"
            ),
            Mismatch::Level0Start { oas_bits } => write!(
                f,
                "level-0 start needs 44 output bits, IDR5.OAS gives {oas_bits}"
            ),
            Mismatch::RootMisaligned { root } => {
                write!(
                    f,
                    "stage-2 root {root:#x} not aligned to its concatenated tables"
                )
            }
            Mismatch::NotCoherent => {
                f.write_str("table walks not coherent (IDR0.COHACC = 0); shared tables need it")
            }
            Mismatch::QueueTooSmall => f.write_str("command or event queue of one entry (IDR1)"),
        }
    }
}

/// The stage-2 fields of an STE, chosen to match the host's VTCR_EL2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct S2Config {
    /// S2T0SZ = 64 - IPA bits.
    pub t0sz: u64,
    /// S2SL0, VTCR_EL2.SL0's encoding (4 KiB granule: 2 = level 0, 1 = level 1).
    pub sl0: u64,
    /// S2PS: the smaller of the CPUs' PARange and the SMMU's OAS.
    pub ps: u64,
    /// S2TTB: the root table's physical address.
    pub ttb: u64,
}

/// Checks that an SMMU with `features` can walk the host stage 2 of `geometry` rooted at
/// `root`, and returns the STE fields that make it do so.
pub fn check_geometry(
    features: &Features,
    geometry: &Geometry,
    root: u64,
) -> Result<S2Config, Mismatch> {
    if !features.stage2 {
        return Err(Mismatch::NoStage2);
    }
    if features.ttf & 0b10 == 0 {
        return Err(Mismatch::NoAArch64Tables);
    }
    if features.ttendian == 0b11 {
        return Err(Mismatch::BigEndianOnly);
    }
    if features.stall_model == 0b10 {
        return Err(Mismatch::StallForced);
    }
    if features.preset {
        return Err(Mismatch::PresetBases);
    }
    if !features.gran4k {
        return Err(Mismatch::No4kGranule);
    }
    if !features.coherent {
        return Err(Mismatch::NotCoherent);
    }
    if features.cmdq_log2 == 0 || features.evtq_log2 == 0 {
        return Err(Mismatch::QueueTooSmall);
    }
    let oas_bits = features.oas_bits();
    if oas_bits < geometry.ipa_bits {
        return Err(Mismatch::OutputTooSmall {
            oas_bits,
            ipa_bits: geometry.ipa_bits,
        });
    }
    if geometry.root_level == 0 && oas_bits < 44 {
        return Err(Mismatch::Level0Start { oas_bits });
    }
    // Concatenated roots (a 40-bit space at level 1): the SMMU indexes them as the CPUs do,
    // from a base aligned to their total size.
    if !root.is_multiple_of(geometry.root_tables() as u64 * 4096) {
        return Err(Mismatch::RootMisaligned { root });
    }
    // The VTCR_EL2 the CPUs use holds T0SZ, SL0 and PS in the same encodings as the STE
    // (S2T0SZ = 24 with S2SL0 = 1: two concatenated level-1 tables, as for the CPUs).
    let vtcr = geometry.vtcr();
    Ok(S2Config {
        t0sz: vtcr & 0x3f,
        sl0: (vtcr >> 6) & 3,
        ps: geometry.parange.min(u64::from(features.oas)),
        ttb: root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU's SMMUv3 with stage 2 enabled: S2P, S1P, TTF = AArch64, COHACC, ASID16,
    /// TTENDIAN = LE, STALL_MODEL = 1, TERM_MODEL, ST_LEVEL = 1, VMID16; SIDSIZE 16,
    /// EVENTQS 19, CMDQS 19; OAS 44 bits, 4K and 64K granules.
    pub const QEMU_IDR0: u32 = 1
        | 2
        | (2 << 2)
        | (1 << 4)
        | (1 << 12)
        | (2 << 21)
        | (1 << 24)
        | (1 << 26)
        | (1 << 27)
        | (1 << 18);
    pub const QEMU_IDR1: u32 = 16 | (19 << 16) | (19 << 21);
    pub const QEMU_IDR5: u32 = 4 | (1 << 4) | (1 << 6);

    #[test]
    fn qemu_id_registers_decode() {
        let f = Features::decode(QEMU_IDR0, QEMU_IDR1, QEMU_IDR5);
        assert!(f.stage2 && f.coherent && f.vmid16 && f.two_level_streams && f.gran4k);
        assert!(!f.hyp && !f.preset);
        assert_eq!((f.ttf, f.ttendian, f.stall_model), (2, 2, 1));
        assert_eq!((f.sid_bits, f.cmdq_log2, f.evtq_log2), (16, 19, 19));
        assert_eq!(f.oas_bits(), 44);
    }

    #[test]
    fn a_40_bit_host_stage2_fits_qemus_smmu() {
        let f = Features::decode(QEMU_IDR0, QEMU_IDR1, QEMU_IDR5);
        let g = Geometry::from_parange(5);
        let s2 = check_geometry(&f, &g, 0x6010_0000).unwrap();
        assert_eq!(s2.t0sz, 24);
        assert_eq!(s2.sl0, 2);
        assert_eq!(s2.ps, 4, "PARange 48 capped to the SMMU's 44 bits");
        // A 40-bit CPU: 40 bits from two concatenated level-1 tables, rooted 8 KiB-aligned.
        let g40 = Geometry::from_parange(2);
        let s2 = check_geometry(&f, &g40, 0x6010_0000).unwrap();
        assert_eq!((s2.t0sz, s2.sl0, s2.ps, s2.ttb), (24, 1, 2, 0x6010_0000));
        let f40 = Features { oas: 2, ..f };
        assert!(
            check_geometry(&f40, &g40, 0x6010_0000).is_ok(),
            "no level-0 start"
        );
        assert_eq!(
            check_geometry(&f, &g40, 0x6010_1000),
            Err(Mismatch::RootMisaligned { root: 0x6010_1000 })
        );
        assert!(
            check_geometry(&f, &g, 0x6010_1000).is_ok(),
            "one root table"
        );
    }

    #[test]
    fn every_mismatch_is_refused_and_named() {
        let good = Features::decode(QEMU_IDR0, QEMU_IDR1, QEMU_IDR5);
        let g = Geometry::from_parange(5);
        let cases: [(Features, Mismatch); 9] = [
            (
                Features {
                    stage2: false,
                    ..good
                },
                Mismatch::NoStage2,
            ),
            (Features { ttf: 1, ..good }, Mismatch::NoAArch64Tables),
            (
                Features {
                    ttendian: 3,
                    ..good
                },
                Mismatch::BigEndianOnly,
            ),
            (
                Features {
                    stall_model: 2,
                    ..good
                },
                Mismatch::StallForced,
            ),
            (
                Features {
                    preset: true,
                    ..good
                },
                Mismatch::PresetBases,
            ),
            (
                Features {
                    gran4k: false,
                    ..good
                },
                Mismatch::No4kGranule,
            ),
            (
                Features {
                    coherent: false,
                    ..good
                },
                Mismatch::NotCoherent,
            ),
            (
                Features {
                    cmdq_log2: 0,
                    ..good
                },
                Mismatch::QueueTooSmall,
            ),
            (
                Features { oas: 1, ..good },
                Mismatch::OutputTooSmall {
                    oas_bits: 36,
                    ipa_bits: 40,
                },
            ),
        ];
        for (f, want) in cases {
            assert_eq!(check_geometry(&f, &g, 0), Err(want));
            assert!(!want.to_string().is_empty());
        }
        // 40 output bits hold a 40-bit IPA space, but not a level-0 start.
        let f40 = Features { oas: 2, ..good };
        assert_eq!(
            check_geometry(&f40, &g, 0),
            Err(Mismatch::Level0Start { oas_bits: 40 })
        );
        assert!(
            Mismatch::OutputTooSmall {
                oas_bits: 36,
                ipa_bits: 40
            }
            .to_string()
            .contains("36 bits")
        );
    }
}
