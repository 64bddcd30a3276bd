//! The hypervisor's own HVC ABI, in the SMCCC vendor-specific hypervisor range (owner 6).
//! Everything else the host sends with HVC gets SMCCC NOT_SUPPORTED: there is no hypervisor
//! above us for it to reach.
//!
//! | Function ID | Call | Returns |
//! |---|---|---|
//! | 0x8600_ff01 | Call UID | x0..x3: this hypervisor's UUID |
//! | 0x8600_ff03 | Revision | x0 = major, x1 = minor |
//! | 0xc600_0000 | Identify | x0 = 0, x1 = "FFAHYP\0\0" magic, x2 = version (major << 16 \| minor), x3 = carve-out base |
//! | 0xc600_0002 | DMA audit: the SMMU's fault counts since boot (`hypervisor/src/smmu/`); NOT_SUPPORTED without an SMMU | x0 = 0, x1 = events, x2 = translation faults (F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION), x3 = streams refused (C_BAD_STREAMID, C_BAD_STE), x4 = event-queue overflows, x5 = global errors |
//! | 0xc600_0001 | FF-A audit: x1 = an FF-A function ID (canonical, e.g. 0x8400_0068 or 0xc400_0073), or 0 for all functions together | x0 = 0, x1 = forwarded, x2 = emulated, x3 = rejected, x4 = not supported, x5 = refused SPMC replies; for x1 = 0 also x6 = memory transactions and x7 = pages withheld from the host for good after unexpected SPMC replies (`docs/ffa-decisions.md`, D-LOST-PAGES); x0 = -3 (SMCCC INVALID_PARAMETER) if x1 is not a function the proxy knows |
//!
//! The FF-A audit lets a test prove that a rejected call never reached the SPMC: `forwarded`
//! moves only when the proxy's conduit carried the host's call (or, for the emulated
//! PARTITION_INFO_GET, MEM_SHARE and MEM_RECLAIM, the proxy's rebuilt version of it);
//! `rejected` counts calls refused at EL2 (field checks, SMCCC hygiene, addresses, page
//! ownership, descriptors, mailbox state).

use crate::ffa::Counters;
use crate::smccc::{NOT_SUPPORTED, SmcRegs};
use crate::smmu::FaultStats;

/// Call UID query.
pub const CALL_UID: u32 = 0x8600_ff01;
/// Revision query.
pub const REVISION: u32 = 0x8600_ff03;
/// Identify.
pub const IDENTIFY: u32 = 0xc600_0000;
/// FF-A audit counters of one function.
pub const FFA_AUDIT: u32 = 0xc600_0001;
/// The SMMU's fault counts.
pub const DMA_AUDIT: u32 = 0xc600_0002;

/// SMCCC INVALID_PARAMETER (-3).
pub const INVALID_PARAMETER: u64 = -3i64 as u64;

/// ASCII "FFAHYP" in a register (little-endian bytes).
pub const MAGIC: u64 = u64::from_le_bytes(*b"FFAHYP\0\0");
/// This hypervisor's UUID, as SMCCC returns UIDs: four 32-bit words.
pub const UUID: [u32; 4] = [0x4c3f_7a21, 0x9d5e_4b6a, 0x8e11_27c0, 0x6a0f_f0a5];
/// ABI revision.
pub const VERSION: (u16, u16) = (0, 1);

/// Answers an HVC from the host in place. Only the result registers change: SMCCC v1.1+
/// says the others are preserved. `ffa` are the FF-A proxy's audit counters, `dma` the
/// SMMU's fault counts (`None` without an SMMU).
pub fn handle(regs: &mut SmcRegs, carveout_base: u64, ffa: &Counters, dma: Option<&FaultStats>) {
    match regs[0] {
        f if f == u64::from(CALL_UID) => {
            for (r, w) in regs.iter_mut().zip(UUID) {
                *r = u64::from(w);
            }
        }
        f if f == u64::from(REVISION) => {
            regs[0] = u64::from(VERSION.0);
            regs[1] = u64::from(VERSION.1);
        }
        f if f == u64::from(IDENTIFY) => {
            regs[0] = 0;
            regs[1] = MAGIC;
            regs[2] = (u64::from(VERSION.0) << 16) | u64::from(VERSION.1);
            regs[3] = carveout_base;
        }
        f if f == u64::from(FFA_AUDIT) => {
            if regs[1] == 0 {
                (regs[6], regs[7]) = ffa.lost();
            }
            let counts = match regs[1] {
                0 => Some(ffa.total()),
                id if id >> 32 == 0 => ffa.get(id as u32),
                _ => None,
            };
            match counts {
                Some(c) => {
                    regs[0] = 0;
                    regs[1] = c.forwarded;
                    regs[2] = c.emulated;
                    regs[3] = c.rejected;
                    regs[4] = c.unsupported;
                    regs[5] = c.bad_replies;
                }
                None => regs[0] = INVALID_PARAMETER,
            }
        }
        f if f == u64::from(DMA_AUDIT) => match dma {
            Some(s) => {
                regs[0] = 0;
                regs[1] = s.total();
                regs[2] = s.translation_faults();
                regs[3] = s.refused_streams();
                regs[4] = s.overflows;
                regs[5] = s.global_errors;
            }
            None => regs[0] = NOT_SUPPORTED,
        },
        _ => regs[0] = NOT_SUPPORTED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identify_answers_magic_and_version() {
        let mut r = [0u64; 18];
        r[0] = u64::from(IDENTIFY);
        r[5] = 0xdead;
        handle(&mut r, 0x6000_0000, &Counters::new(), None);
        assert_eq!(r[0], 0);
        assert_eq!(r[1], MAGIC);
        assert_eq!(r[3], 0x6000_0000);
        assert_eq!(r[5], 0xdead, "registers beyond the result are preserved");
    }

    #[test]
    fn unknown_hvc_is_not_supported() {
        for f in [0u64, 0x8400_0000, 0xc600_0002, 0xffff_ffff_c600_0000] {
            let mut r = [0u64; 18];
            r[0] = f;
            handle(&mut r, 0, &Counters::new(), None);
            assert_eq!(r[0], NOT_SUPPORTED, "function {f:#x}");
        }
    }

    #[test]
    fn ffa_audit_reports_one_function_or_all() {
        use crate::ffa::Proxy;
        use crate::testkit::{Hyp, Spmc, r};
        use ffa_spec::fid;

        // A v1.2 SPMC that answers every other call with FFA_SUCCESS.
        let mut spmc = Spmc::replying(r(&[fid::SUCCESS_32.into()]), true);
        let proxy = Hyp::with_memory(
            Proxy::probe(&mut spmc, 0x1_0002),
            (0x6000_8000, 0x6000_9000),
            &[0x4000_0000..0x6000_0000],
            &spmc.stage2,
        );
        let mut call = |x: [u64; 4]| {
            let mut r = [0u64; 18];
            r[..4].copy_from_slice(&x);
            let _ = proxy.handle(&mut r, 0, &mut spmc);
        };
        call([fid::VERSION.into(), 0x1_0002, 0, 0]); // FFA_VERSION: emulated
        call([fid::RXTX_MAP_64.into(), 0x6000_0000, 0x4800_0000, 1]); // RXTX_MAP of the carve-out: rejected
        call([fid::MSG_SEND_DIRECT_REQ_32.into(), 0x8001, 0, 0]); // DIRECT_REQ: forwarded (the reply is refused)
        let ask = |id: u64| {
            let mut r = [0u64; 18];
            r[0] = u64::from(FFA_AUDIT);
            r[1] = id;
            r[6] = 0xdead;
            handle(&mut r, 0, proxy.counters(), None);
            r
        };
        let map = ask(fid::RXTX_MAP_64.into());
        assert_eq!(&map[..6], &[0, 0, 0, 1, 0, 0], "RXTX_MAP_64: one rejection");
        assert_eq!(map[6], 0xdead, "registers beyond the result are preserved");
        let req = ask(fid::MSG_SEND_DIRECT_REQ_32.into());
        assert_eq!(
            &req[..6],
            &[0, 1, 0, 0, 0, 1],
            "DIRECT_REQ_32: forwarded, reply refused"
        );
        let all = ask(0);
        assert_eq!(&all[..6], &[0, 1, 1, 1, 0, 1], "totals");
        assert_eq!(
            &all[6..8],
            &[0, 0],
            "nothing withheld from the host (D-LOST-PAGES)"
        );
        assert_eq!(ask(0x8400_00f0)[0], INVALID_PARAMETER, "unknown ID");
        assert_eq!(
            ask(1 << 32 | u64::from(fid::VERSION))[0],
            INVALID_PARAMETER,
            "upper bits"
        );
    }

    #[test]
    fn dma_audit_reports_the_smmus_fault_counts() {
        use crate::smmu::event::Kind;
        let mut stats = FaultStats::default();
        stats.events[Kind::Translation.counter()] = 5;
        stats.events[Kind::Permission.counter()] = 1;
        stats.events[Kind::BadSte.counter()] = 2;
        stats.events[Kind::NAMED] = 1;
        stats.overflows = 3;
        stats.global_errors = 4;
        let mut r = [0u64; 18];
        r[0] = u64::from(DMA_AUDIT);
        r[6] = 0xdead;
        handle(&mut r, 0, &Counters::new(), Some(&stats));
        assert_eq!(&r[..7], &[0, 9, 6, 2, 3, 4, 0xdead]);
        let mut r = [0u64; 18];
        r[0] = u64::from(DMA_AUDIT);
        handle(&mut r, 0, &Counters::new(), None);
        assert_eq!(r[0], NOT_SUPPORTED, "no SMMU");
    }
}
