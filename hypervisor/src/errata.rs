//! CPU errata the hypervisor works around, decided by MIDR_EL1 at boot.
//!
//! One erratum family matters to an EL2 proxy today: on the cores of [`REPEAT_TLBI`], the
//! completion of a broadcast TLB invalidation (`tlbi ... is` then `dsb ish`) may not
//! guarantee that every memory access translated by the invalidated entries, on another
//! core, has completed (CVE-2025-10263; Arm errata 4118414, 4193780-4193801 on the recent
//! cores, and the older 1286807, 2441007, 2441009 of the same kind). After the hypervisor
//! takes a page from the host (FFA_MEM_LEND, a fold of the host stage 2), another core could
//! then still write the page the SPMC was just told is exclusively its own. The workaround
//! is to issue one more broadcast TLBI and DSB after the last one of every invalidation
//! sequence; the second completion waits for what the first did not. The firmware glue
//! (`firmware/arch.rs`) does so on every stage-2 invalidation once [`repeat_tlbi`] matched
//! any CPU of the system. SMMU invalidations are commands to the SMMU, not CPU TLBIs, and are
//! not affected. Details and the table's sources: `docs/errata.md`.
//!
//! MIDR_EL1 (Arm ARM D23.2): Implementer [31:24], Variant [23:20] (the "rN" of rNpM),
//! Architecture [19:16], PartNum [15:4], Revision [3:0] (the "pM").

/// Arm Limited's implementer code.
pub const ARM: u8 = 0x41;
/// Microsoft's implementer code.
pub const MICROSOFT: u8 = 0x6d;

/// The fields of a MIDR_EL1 value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Midr(pub u64);

impl Midr {
    /// The implementer code.
    pub fn implementer(self) -> u8 {
        (self.0 >> 24) as u8
    }
    /// The part number.
    pub fn part(self) -> u16 {
        ((self.0 >> 4) & 0xfff) as u16
    }
    /// The variant (major revision, "rN").
    pub fn variant(self) -> u8 {
        ((self.0 >> 20) & 0xf) as u8
    }
    /// The revision (minor revision, "pM").
    pub fn revision(self) -> u8 {
        (self.0 & 0xf) as u8
    }
    /// The part's name, when it is in [`PARTS`].
    pub fn name(self) -> Option<&'static str> {
        PARTS
            .iter()
            .find(|p| p.0 == self.implementer() && p.1 == self.part())
            .map(|p| p.2)
    }
}

/// The same MIDR as a QEMU or silicon CPU reports it: implementer, variant, part, revision
/// (architecture field 0xf: "ID registers").
pub const fn midr(implementer: u8, variant: u8, part: u16, revision: u8) -> u64 {
    (implementer as u64) << 24
        | ((variant & 0xf) as u64) << 20
        | 0xf << 16
        | ((part & 0xfff) as u64) << 4
        | (revision & 0xf) as u64
}

/// Part numbers this hypervisor names in its banner: (implementer, part, name).
pub const PARTS: &[(u8, u16, &str)] = &[
    (ARM, 0xd03, "Cortex-A53"),
    (ARM, 0xd05, "Cortex-A55"),
    (ARM, 0xd07, "Cortex-A57"),
    (ARM, 0xd08, "Cortex-A72"),
    (ARM, 0xd0b, "Cortex-A76"),
    (ARM, 0xd0c, "Neoverse-N1"),
    (ARM, 0xd0d, "Cortex-A77"),
    (ARM, 0xd0e, "Cortex-A76AE"),
    (ARM, 0xd40, "Neoverse-V1"),
    (ARM, 0xd41, "Cortex-A78"),
    (ARM, 0xd42, "Cortex-A78AE"),
    (ARM, 0xd44, "Cortex-X1"),
    (ARM, 0xd46, "Cortex-A510"),
    (ARM, 0xd47, "Cortex-A710"),
    (ARM, 0xd48, "Cortex-X2"),
    (ARM, 0xd49, "Neoverse-N2"),
    (ARM, 0xd4b, "Cortex-A78C"),
    (ARM, 0xd4c, "Cortex-X1C"),
    (ARM, 0xd4e, "Cortex-X3"),
    (ARM, 0xd4f, "Neoverse-V2"),
    (ARM, 0xd82, "Cortex-X4"),
    (ARM, 0xd83, "Neoverse-V3AE"),
    (ARM, 0xd84, "Neoverse-V3"),
    (ARM, 0xd85, "Cortex-X925"),
    (MICROSOFT, 0xd49, "Azure Cobalt 100"),
];

/// One affected part: every revision from `first` to `last` (inclusive), each as
/// (variant, revision), i.e. rNpM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Affected {
    /// Implementer code.
    pub implementer: u8,
    /// Part number.
    pub part: u16,
    /// First affected revision (rNpM as (N, M)).
    pub first: (u8, u8),
    /// Last affected revision; (0xf, 0xf) when no revision fixes it.
    pub last: (u8, u8),
    /// Arm's erratum number for this part.
    pub erratum: u32,
}

impl Affected {
    /// Whether `midr` is this part at an affected revision.
    pub fn matches(&self, midr: Midr) -> bool {
        let rev = (midr.variant(), midr.revision());
        midr.implementer() == self.implementer
            && midr.part() == self.part
            && self.first <= rev
            && rev <= self.last
    }
}

const ALL: ((u8, u8), (u8, u8)) = ((0, 0), (0xf, 0xf));

const fn all(implementer: u8, part: u16, erratum: u32) -> Affected {
    Affected {
        implementer,
        part,
        first: ALL.0,
        last: ALL.1,
        erratum,
    }
}

/// The cores whose broadcast TLBI completion needs a second TLBI and DSB. Every revision of
/// the 2025 list (CVE-2025-10263) is affected (no fixed revision is published); of the older
/// errata, Cortex-A76 is fixed from r3p1 and Cortex-A510 from r1p2, and every Cortex-A55 is
/// affected.
pub const REPEAT_TLBI: &[Affected] = &[
    all(ARM, 0xd0b, 4193800),       // Cortex-A76 (and 1286807, r0p0-r3p0)
    all(ARM, 0xd0e, 4193801),       // Cortex-A76AE
    all(ARM, 0xd0d, 4193798),       // Cortex-A77
    all(ARM, 0xd41, 4193791),       // Cortex-A78
    all(ARM, 0xd42, 4193793),       // Cortex-A78AE
    all(ARM, 0xd4b, 4193794),       // Cortex-A78C
    all(ARM, 0xd47, 4193788),       // Cortex-A710
    all(ARM, 0xd44, 4193791),       // Cortex-X1
    all(ARM, 0xd4c, 4193792),       // Cortex-X1C
    all(ARM, 0xd48, 4193788),       // Cortex-X2
    all(ARM, 0xd4e, 4193786),       // Cortex-X3
    all(ARM, 0xd82, 4118414),       // Cortex-X4
    all(ARM, 0xd85, 4193781),       // Cortex-X925
    all(ARM, 0xd0c, 4193800),       // Neoverse-N1
    all(ARM, 0xd49, 4193789),       // Neoverse-N2
    all(ARM, 0xd40, 4193790),       // Neoverse-V1
    all(ARM, 0xd4f, 4193787),       // Neoverse-V2
    all(ARM, 0xd84, 4193784),       // Neoverse-V3
    all(ARM, 0xd83, 4193784),       // Neoverse-V3AE
    all(MICROSOFT, 0xd49, 4193789), // Azure Cobalt 100 (a Neoverse-N2)
    all(ARM, 0xd05, 2441007),       // Cortex-A55
    Affected {
        implementer: ARM,
        part: 0xd46,
        first: (0, 0),
        last: (1, 1),
        erratum: 2441009,
    }, // Cortex-A510 r0p0-r1p1
];

/// The entry of [`REPEAT_TLBI`] this CPU matches, if any: stage-2 invalidations then repeat
/// their last TLBI and DSB.
pub fn repeat_tlbi(midr: u64) -> Option<&'static Affected> {
    REPEAT_TLBI.iter().find(|a| a.matches(Midr(midr)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_part_needs_the_repeat_at_every_revision() {
        for a in REPEAT_TLBI.iter().filter(|a| (a.first, a.last) == ALL) {
            for (variant, revision) in [(0, 0), (0, 2), (1, 0), (2, 1), (3, 0), (0xf, 0xf)] {
                let m = midr(a.implementer, variant, a.part, revision);
                assert_eq!(
                    repeat_tlbi(m).map(|e| e.erratum),
                    Some(a.erratum),
                    "{:?} r{variant}p{revision} ({m:#x})",
                    Midr(m).name()
                );
            }
        }
    }

    /// The parts the 2025 advisory names, by their MIDR as silicon (and QEMU's models of
    /// them) report it.
    #[test]
    fn the_advisorys_parts_are_in() {
        for (name, m) in [
            ("Neoverse-N2 r0p3 (QEMU neoverse-n2)", 0x410f_d493),
            ("Neoverse-N1 r4p1 (QEMU neoverse-n1)", 0x414f_d0c1),
            ("Neoverse-V1 r1p1 (QEMU neoverse-v1)", 0x411f_d402),
            ("Cortex-A76 r4p1 (QEMU cortex-a76)", 0x414f_d0b1),
            ("Cortex-A710 r2p0 (QEMU cortex-a710)", 0x412f_d470),
            ("Cortex-X4 r0p1", 0x410f_d821),
            ("Cortex-X925 r0p1", 0x410f_d851),
            ("Neoverse-V3 r0p1", 0x410f_d841),
            ("Cortex-A78C r0p1", 0x410f_d4b1),
            ("Cortex-X1C r0p0", 0x410f_d4c0),
        ] {
            assert!(repeat_tlbi(m).is_some(), "{name} ({m:#x}) is affected");
        }
    }

    #[test]
    fn unlisted_parts_are_out() {
        for (name, m) in [
            ("Cortex-A53 r0p4 (QEMU cortex-a53)", 0x410f_d034),
            ("Cortex-A57 r1p3 (QEMU cortex-a57)", 0x411f_d073),
            ("Cortex-A72 r0p3 (QEMU cortex-a72)", 0x410f_d083),
            ("QEMU max (implementer 0)", 0x000f_0510),
            ("another implementer's part 0xd49", midr(0x51, 0, 0xd49, 0)),
        ] {
            assert_eq!(repeat_tlbi(m), None, "{name} ({m:#x}) is not affected");
        }
    }

    #[test]
    fn fixed_revisions_are_out() {
        let a510 = |v, r| repeat_tlbi(midr(ARM, v, 0xd46, r));
        assert!(a510(0, 0).is_some() && a510(1, 0).is_some() && a510(1, 1).is_some());
        assert_eq!(a510(1, 2), None, "Cortex-A510 r1p2 is fixed");
        assert_eq!(a510(2, 0), None, "Cortex-A510 r2p0 is fixed");
    }

    #[test]
    fn midr_fields_and_names() {
        let m = Midr(0x412f_d470);
        assert_eq!(
            (m.implementer(), m.variant(), m.part(), m.revision()),
            (ARM, 2, 0xd47, 0)
        );
        assert_eq!(m.name(), Some("Cortex-A710"));
        assert_eq!(midr(ARM, 2, 0xd47, 0), 0x412f_d470);
        assert_eq!(Midr(0x000f_0510).name(), None);
        for a in REPEAT_TLBI {
            assert!(
                Midr(midr(a.implementer, 0, a.part, 0)).name().is_some(),
                "every affected part has a name: {a:?}"
            );
        }
    }
}
