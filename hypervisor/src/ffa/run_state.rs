//! Which (Secure partition, vCPU) pairs the host may resume with `FFA_RUN` (D-RUN-STATE).
//!
//! DEN0077 v1.2 gives `FFA_RUN` to the normal-world scheduler for three states of a
//! partition's vCPU: preempted (a forwarded `FFA_MSG_SEND_DIRECT_REQ`/`_REQ2` or `FFA_RUN`
//! came back `FFA_INTERRUPT` naming it), blocked (it came back `FFA_YIELD`), and waiting with
//! notifications pending (`FFA_NOTIFICATION_INFO_GET`'s reply lists it). The proxy sees every
//! one of those replies, so it remembers the pairs here and forwards `FFA_RUN` only to one
//! of them: an SPMC that resumes a partition in any other state may take the Secure world
//! down (TF-A 2.12's EL3 SPMC does, with OP-TEE 4.10; `docs/spmc.md`), and then the host's
//! SMC never returns, which would hang EL2.
//!
//! A fixed table ([`RUN_STATES`] slots, no allocation), behind the proxy's own lock, held
//! only to look up or record, never across an SMC. A forwarded `FFA_RUN` consumes its pair
//! (a reply that is again `FFA_INTERRUPT` or `FFA_YIELD` records it again); a pair that finds
//! the table full is not recorded, so its `FFA_RUN` is DENIED.

use super::abi::fid;
use crate::budget::RUN_STATES;
use crate::smccc::SmcRegs;

/// A slot in use.
const USED: u64 = 1 << 63;
/// The slot stands for every vCPU of its partition (a global notification is pending).
const ANY_VCPU: u64 = 1 << 32;
/// Bit 15 of an endpoint ID: a Secure endpoint.
const SECURE: u16 = 1 << 15;

/// The resumable pairs: each slot 0 (free) or [`USED`], [`ANY_VCPU`] and `endpoint << 16 |
/// vCPU` (vCPU 0 with [`ANY_VCPU`]).
pub struct RunState {
    slots: [u64; RUN_STATES],
}

/// A pair taken by a forwarded `FFA_RUN`, to put back if the SPMC did not run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken(u64);

impl RunState {
    /// Nothing resumable.
    pub const fn new() -> Self {
        RunState {
            slots: [0; RUN_STATES],
        }
    }

    /// Records that the host may run `endpoint`'s `vcpu` (`None`: any of its vCPUs). A
    /// normal-world ID is ignored; `false` if the table is full.
    pub fn allow(&mut self, endpoint: u16, vcpu: Option<u16>) -> bool {
        if endpoint & SECURE == 0 {
            return true;
        }
        let ep = u64::from(endpoint) << 16;
        let want = match vcpu {
            Some(v) => USED | ep | u64::from(v),
            None => USED | ANY_VCPU | ep,
        };
        // Already there (or covered by the partition's any-vCPU slot): nothing to add.
        if self
            .slots
            .iter()
            .any(|&s| s == want || s == USED | ANY_VCPU | ep)
        {
            return true;
        }
        match self.slots.iter_mut().find(|s| **s == 0) {
            Some(free) => {
                *free = want;
                true
            }
            None => false,
        }
    }

    /// Takes the pair `FFA_RUN`'s w1 (`endpoint << 16 | vCPU`) names: its own slot, else its
    /// partition's any-vCPU slot. `None`: the host may not run it.
    pub fn take(&mut self, w1: u32) -> Option<Taken> {
        let exact = USED | u64::from(w1);
        let any = USED | ANY_VCPU | u64::from(w1 & 0xFFFF_0000);
        let i = self
            .slots
            .iter()
            .position(|&s| s == exact)
            .or_else(|| self.slots.iter().position(|&s| s == any))?;
        let taken = Taken(self.slots[i]);
        self.slots[i] = 0;
        Some(taken)
    }

    /// Puts back a pair the SPMC did not run (it answered BUSY).
    pub fn put_back(&mut self, taken: Taken) {
        if !self.slots.contains(&taken.0)
            && let Some(free) = self.slots.iter_mut().find(|s| **s == 0)
        {
            *free = taken.0;
        }
    }

    /// A filtered reply `FFA_INTERRUPT` or `FFA_YIELD` (w1 = `endpoint << 16 | vCPU`, the
    /// vCPU preempted or blocked): the host may run it.
    pub fn preempted(&mut self, w1: u64) {
        let _ = self.allow((w1 >> 16) as u16, Some(w1 as u16));
    }

    /// A filtered `FFA_SUCCESS` reply to `FFA_NOTIFICATION_INFO_GET`: every endpoint it lists
    /// may be run, on the vCPUs listed with it, or on any if it comes alone (a global
    /// notification). w2: bits \[11:7\] the number of lists, from bit 12 each list's ID count
    /// less one (two bits each); the IDs, 16 bits each, from w3 on: two per register in
    /// `FFA_SUCCESS_32` (10 at most), four in `FFA_SUCCESS_64` (20 at most).
    pub fn notifications_pending(&mut self, reply: &SmcRegs) {
        let (per_reg, max_ids) = if reply[0] == u64::from(fid::SUCCESS_64) {
            (4, 20)
        } else {
            (2, 10)
        };
        let info = reply[2];
        let lists = ((info >> 7) & 0x1F) as usize;
        let id = |i: usize| (reply[3 + i / per_reg] >> (16 * (i % per_reg))) as u16;
        let mut next = 0;
        for list in 0..lists.min(max_ids) {
            let count = ((info >> (12 + 2 * list)) & 3) as usize + 1;
            if next + count > max_ids {
                break;
            }
            let endpoint = id(next);
            if count == 1 {
                let _ = self.allow(endpoint, None);
            } else {
                for k in 1..count {
                    let _ = self.allow(endpoint, Some(id(next + k)));
                }
            }
            next += count;
        }
    }

    /// The slots in use, for tests.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.slots.iter().filter(|&&s| s != 0).count()
    }

    /// Whether `take(w1)` would succeed, for tests.
    #[cfg(test)]
    pub fn may_run(&self, w1: u32) -> bool {
        let any = USED | ANY_VCPU | u64::from(w1 & 0xFFFF_0000);
        self.slots
            .iter()
            .any(|&s| s == USED | u64::from(w1) || s == any)
    }

    /// The table, for tests comparing two proxies.
    #[cfg(test)]
    pub fn snapshot(&self) -> alloc::vec::Vec<u64> {
        let mut v: alloc::vec::Vec<u64> = self.slots.iter().copied().filter(|&s| s != 0).collect();
        v.sort_unstable();
        v
    }
}

impl Default for RunState {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_taken_once() {
        let mut s = RunState::new();
        assert_eq!(s.take(0x8001_0002), None, "nothing recorded");
        s.preempted(0x8001_0002);
        assert!(!s.may_run(0x8001_0003), "another vCPU");
        assert!(!s.may_run(0x8002_0002), "another partition");
        let t = s.take(0x8001_0002).expect("recorded");
        assert_eq!(s.take(0x8001_0002), None, "taken");
        s.put_back(t);
        assert!(s.take(0x8001_0002).is_some(), "put back");
    }

    #[test]
    fn normal_world_ids_are_never_recorded() {
        let mut s = RunState::new();
        s.preempted(0x0001_0002);
        s.preempted(0);
        assert_eq!(s.used(), 0);
    }

    #[test]
    fn a_full_table_records_nothing_more() {
        let mut s = RunState::new();
        for i in 0..RUN_STATES {
            assert!(s.allow(0x8000 | (i / 16) as u16, Some((i % 16) as u16)));
        }
        // Recording a pair already there needs no slot.
        assert!(s.allow(0x8000, Some(0)));
        assert!(!s.allow(0x80FF, Some(0)), "full");
        assert!(!s.may_run(0x80FF_0000));
        assert!(s.take(0x8000_0000).is_some());
        assert!(s.allow(0x80FF, Some(0)), "a slot freed");
    }

    #[test]
    fn info_get_lists_are_read_per_convention() {
        // SMC64: two lists: 0x8001 with vCPUs 1 and 3; 0x8002 alone (global).
        let mut s = RunState::new();
        // List 1: three IDs (size field 2); list 2: one ID (size field 0).
        let info = 2 << 7 | 2 << 12;
        let x3 = 0x8002_u64 << 48 | 3 << 32 | 1 << 16 | 0x8001;
        let mut reply = [0; 18];
        reply[..4].copy_from_slice(&[fid::SUCCESS_64.into(), 0, info, x3]);
        s.notifications_pending(&reply);
        assert!(s.may_run(0x8001_0001) && s.may_run(0x8001_0003));
        assert!(!s.may_run(0x8001_0002));
        assert!(s.may_run(0x8002_0007), "global: any vCPU");
        assert!(s.take(0x8002_0007).is_some());
        assert!(!s.may_run(0x8002_0000), "taken by the first FFA_RUN");
        // SMC32: the same, two IDs per register.
        let mut s = RunState::new();
        let mut reply = [0; 18];
        reply[..6].copy_from_slice(&[
            fid::SUCCESS_32.into(),
            0,
            info,
            1 << 16 | 0x8001,
            0x8002 << 16 | 3,
            0,
        ]);
        s.notifications_pending(&reply);
        assert!(s.may_run(0x8001_0001) && s.may_run(0x8001_0003));
        assert!(s.may_run(0x8002_0000));
        assert_eq!(s.used(), 3);
    }

    #[test]
    fn info_get_lists_beyond_the_ids_are_ignored() {
        // SMC32 holds 10 IDs; a list count of 31 with every list 4 IDs long stops at two.
        let mut s = RunState::new();
        let info = 31 << 7 | 0xF_FFFF << 12;
        let mut reply = [0xFFFF_8001_8001; 18];
        reply[0] = fid::SUCCESS_32.into();
        reply[2] = info;
        s.notifications_pending(&reply);
        assert_eq!(s.used(), 1, "0x8001, vCPU 0x8001");
    }
}
