//! PSCI relay. The host calls PSCI with SMC; every call that names an entry point is
//! rewritten so the CPU enters the hypervisor first (to set up EL2 on it) and only then
//! drops to the host's entry point at EL1 with the host's context ID in x0. Everything
//! else is forwarded to the firmware unchanged, so its answers stay authoritative.
//!
//! | Function | Handling |
//! |---|---|
//! | CPU_ON 32/64 | entry checked (host RAM, else INVALID_ADDRESS); target must be a DT CPU (else INVALID_PARAMETERS); forwarded as CPU_ON_64 with the hypervisor's warm entry |
//! | CPU_SUSPEND 32/64 | standby states forwarded as is; power-down states get the warm entry, the host's entry and context kept for the wake-up |
//! | SYSTEM_SUSPEND, CPU_DEFAULT_SUSPEND | NOT_SUPPORTED (not relayed yet; PSCI_FEATURES says so too) |
//! | PSCI_FEATURES | NOT_SUPPORTED for the two above, otherwise forwarded |
//! | CPU_OFF | held at EL2: the CPU waits (WFE) in the hypervisor until the host's CPU_ON for it, which is then answered here and enters the host's new entry point without the firmware |
//! | AFFINITY_INFO 32/64, level 0, of a CPU held off | OFF (ON_PENDING once its CPU_ON is in flight); otherwise forwarded |
//! | everything else (VERSION, MIGRATE_INFO_TYPE, SYSTEM_OFF/RESET/RESET2, ...) | forwarded |
//!
//! CPU_OFF is not forwarded because firmware with an SPMC must tell the Secure world that
//! the CPU goes down, and on TF-A 2.12's SPMD with OP-TEE 4.10 at S-EL1 that message is
//! refused and the refusal's path never returns to the PSCI code: the caller comes back with
//! an FF-A error in x0 and another world's EL1 registers, and EL3 keeps the PSCI locks, so
//! every later PSCI call on any CPU waits forever (`docs/psci.md`). A CPU held at EL2 draws
//! more power than one the firmware turned off; the Secure world never learns it is off,
//! which is what it believed anyway.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::smccc::{High, SmcConduit, SmcRegs};

/// PSCI function IDs (DEN0022), under the names the relay uses; the values are the
/// `smccc` crate's.
pub mod fid {
    use smccc::psci;

    /// PSCI_VERSION.
    pub const VERSION: u32 = psci::PSCI_VERSION;
    /// CPU_SUSPEND, SMC32.
    pub const CPU_SUSPEND_32: u32 = psci::PSCI_CPU_SUSPEND_32;
    /// CPU_SUSPEND, SMC64.
    pub const CPU_SUSPEND_64: u32 = psci::PSCI_CPU_SUSPEND_64;
    /// CPU_OFF.
    pub const CPU_OFF: u32 = psci::PSCI_CPU_OFF;
    /// AFFINITY_INFO, SMC32.
    pub const AFFINITY_INFO_32: u32 = psci::PSCI_AFFINITY_INFO_32;
    /// CPU_ON, SMC32.
    pub const CPU_ON_32: u32 = psci::PSCI_CPU_ON_32;
    /// CPU_ON, SMC64.
    pub const CPU_ON_64: u32 = psci::PSCI_CPU_ON_64;
    /// AFFINITY_INFO, SMC64.
    pub const AFFINITY_INFO_64: u32 = psci::PSCI_AFFINITY_INFO_64;
    /// SYSTEM_OFF.
    pub const SYSTEM_OFF: u32 = psci::PSCI_SYSTEM_OFF;
    /// SYSTEM_RESET.
    pub const SYSTEM_RESET: u32 = psci::PSCI_SYSTEM_RESET;
    /// PSCI_FEATURES.
    pub const FEATURES: u32 = psci::PSCI_FEATURES;
    /// CPU_DEFAULT_SUSPEND, SMC32.
    pub const CPU_DEFAULT_SUSPEND_32: u32 = psci::PSCI_CPU_DEFAULT_SUSPEND_32;
    /// CPU_DEFAULT_SUSPEND, SMC64.
    pub const CPU_DEFAULT_SUSPEND_64: u32 = psci::PSCI_CPU_DEFAULT_SUSPEND_64;
    /// SYSTEM_SUSPEND, SMC32.
    pub const SYSTEM_SUSPEND_32: u32 = psci::PSCI_SYSTEM_SUSPEND_32;
    /// SYSTEM_SUSPEND, SMC64.
    pub const SYSTEM_SUSPEND_64: u32 = psci::PSCI_SYSTEM_SUSPEND_64;
}

/// PSCI return codes (DEN0022 §5.2.2), as the relay compares and returns them: `i64`, the
/// signed view of x0. The `smccc` crate's are `i32` (an SMC32 call's w0); widening keeps
/// the value.
pub mod ret {
    use smccc::{error, psci::error as psci};

    /// SUCCESS.
    pub const SUCCESS: i64 = error::SUCCESS as i64;
    /// NOT_SUPPORTED.
    pub const NOT_SUPPORTED: i64 = psci::NOT_SUPPORTED as i64;
    /// INVALID_PARAMETERS.
    pub const INVALID_PARAMETERS: i64 = psci::INVALID_PARAMETERS as i64;
    /// ALREADY_ON.
    pub const ALREADY_ON: i64 = psci::ALREADY_ON as i64;
    /// ON_PENDING.
    pub const ON_PENDING: i64 = psci::ON_PENDING as i64;
    /// INVALID_ADDRESS.
    pub const INVALID_ADDRESS: i64 = psci::INVALID_ADDRESS as i64;
    /// AFFINITY_INFO: the CPU is off.
    pub const AFFINITY_OFF: i64 = 1;
    /// AFFINITY_INFO: the CPU is being turned on.
    pub const AFFINITY_ON_PENDING: i64 = 2;
}

/// What the firmware glue does after [`PsciRelay::handle`] has written the reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relayed {
    /// Return to the host with the reply.
    Reply,
    /// Return to the host with the reply, after an event (SEV) that wakes a CPU held off.
    ReplyAndWake,
    /// The calling CPU is held off: wait at EL2 until [`CpuRelay::held_off`] is false, then
    /// enter the host at the entry of its CPU_ON ([`CpuRelay::on`]) as a started CPU.
    HoldOff,
}

/// Whether `function_id` is in the PSCI range (standard service, functions 0x00-0x1f).
pub fn is_psci(function_id: u32) -> bool {
    function_id & 0xbfff_ffe0 == 0x8400_0000
}

/// The affinity fields of an MPIDR (Aff3 and Aff2..Aff0), as PSCI compares them.
pub fn affinity(mpidr: u64) -> u64 {
    mpidr & 0xff_00ff_ffff
}

/// Where a CPU goes when it (re-)enters the host: the host's entry point and x0.
#[derive(Debug, Default)]
pub struct HostEntry {
    /// Set while the entry is claimed by a CPU_ON in flight; cleared by the target CPU once
    /// it has read the entry, or by the caller if the firmware refused.
    busy: AtomicBool,
    pc: AtomicU64,
    context: AtomicU64,
}

impl HostEntry {
    fn claim(&self) -> bool {
        self.busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    fn set(&self, pc: u64, context: u64) {
        self.pc.store(pc, Ordering::Relaxed);
        self.context.store(context, Ordering::Release);
    }

    /// Reads the entry and releases the claim.
    pub fn take(&self) -> (u64, u64) {
        let context = self.context.load(Ordering::Acquire);
        let pc = self.pc.load(Ordering::Relaxed);
        self.busy.store(false, Ordering::Release);
        (pc, context)
    }
}

/// Why a CPU came through the warm entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeReason {
    /// Started by the host's CPU_ON.
    CpuOn,
    /// Woke from a power-down CPU_SUSPEND.
    SuspendResume,
}

/// Per-CPU relay state.
#[derive(Debug, Default)]
pub struct CpuRelay {
    /// The host's CPU_ON entry.
    pub on: HostEntry,
    /// The host's CPU_SUSPEND (power-down) entry.
    pub resume: HostEntry,
    suspending: AtomicBool,
    /// Set by the CPU's own CPU_OFF, cleared by the CPU_ON that starts it again.
    held: AtomicBool,
}

impl CpuRelay {
    /// Why this CPU is in the warm entry now.
    pub fn wake_reason(&self) -> WakeReason {
        if self.suspending.swap(false, Ordering::AcqRel) {
            WakeReason::SuspendResume
        } else {
            WakeReason::CpuOn
        }
    }

    /// Whether the CPU is held off at EL2 (its CPU_OFF), waiting for a CPU_ON.
    pub fn held_off(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }
}

/// The relay: CPU table, entry-point policy and the hypervisor's warm entry.
pub struct PsciRelay<F: Fn(u64) -> bool> {
    /// MPIDRs in DT order; the index is the hypervisor's CPU number.
    mpidrs: Vec<u64>,
    cpus: Vec<CpuRelay>,
    /// Physical addresses of each CPU's warm-boot context (the x0 the firmware passes back).
    contexts: Vec<u64>,
    warm_entry: u64,
    extended_power_state: bool,
    is_host_entry: F,
}

impl<F: Fn(u64) -> bool> PsciRelay<F> {
    /// A relay for `mpidrs`, whose warm-boot contexts are at `contexts`.
    /// `extended_power_state` is PSCI_FEATURES(CPU_SUSPEND) bit 1; `is_host_entry` says
    /// whether an address is a valid host entry point (host RAM).
    pub fn new(
        mpidrs: Vec<u64>,
        contexts: Vec<u64>,
        warm_entry: u64,
        extended_power_state: bool,
        is_host_entry: F,
    ) -> Self {
        let cpus = mpidrs.iter().map(|_| CpuRelay::default()).collect();
        Self {
            mpidrs,
            cpus,
            contexts,
            warm_entry,
            extended_power_state,
            is_host_entry,
        }
    }

    /// The hypervisor's CPU number of `mpidr`.
    pub fn cpu_index(&self, mpidr: u64) -> Option<usize> {
        self.mpidrs
            .iter()
            .position(|&m| affinity(m) == affinity(mpidr))
    }

    /// Relay state of CPU `index`.
    pub fn cpu(&self, index: usize) -> Option<&CpuRelay> {
        self.cpus.get(index)
    }

    /// Number of CPUs in the table.
    pub fn cpu_count(&self) -> usize {
        self.mpidrs.len()
    }

    fn power_down(&self, power_state: u64) -> bool {
        if self.extended_power_state {
            power_state & (1 << 30) != 0
        } else {
            power_state & (1 << 16) != 0
        }
    }

    /// Handles a PSCI call from the host on CPU `current`. `regs` holds x0..x17 and
    /// receives the reply: x0 for the calls answered here (SMCCC: other registers are
    /// preserved), x0..x17 as the firmware left them for forwarded ones. The result says
    /// what the caller does next.
    pub fn handle(
        &self,
        regs: &mut SmcRegs,
        current: usize,
        conduit: &mut impl SmcConduit,
    ) -> Relayed {
        // The SMCCC v1.3 SVE hint (bit 16) is not part of the function: EL3 strips it before
        // dispatch, so we must too, or a hinted CPU_ON would reach the firmware unrelayed
        // and start a CPU at EL2 on the host's entry point.
        regs[0] &= !u64::from(crate::smccc::CALL_HINT_SVE_NOT_LIVE);
        let function = regs[0] as u32;
        let is32 = function & (1 << 30) == 0;
        let arg = |i: usize| if is32 { regs[i] & 0xffff_ffff } else { regs[i] };
        let mut next = Relayed::Reply;
        let reply = match function {
            fid::CPU_ON_32 | fid::CPU_ON_64 => {
                let (reply, woke) = self.cpu_on(arg(1), arg(2), arg(3), conduit);
                if woke {
                    next = Relayed::ReplyAndWake;
                }
                reply
            }
            fid::CPU_OFF => match self.cpus.get(current) {
                Some(cpu) => {
                    cpu.held.store(true, Ordering::Release);
                    return Relayed::HoldOff;
                }
                // A CPU outside the table cannot be started again: let the firmware have it.
                None => return self.forward(regs, conduit),
            },
            fid::AFFINITY_INFO_32 | fid::AFFINITY_INFO_64 if arg(2) == 0 => {
                match self.cpu_index(arg(1)).map(|i| &self.cpus[i]) {
                    Some(cpu) if cpu.held_off() => {
                        if cpu.on.busy.load(Ordering::Acquire) {
                            ret::AFFINITY_ON_PENDING
                        } else {
                            ret::AFFINITY_OFF
                        }
                    }
                    _ => return self.forward(regs, conduit),
                }
            }
            fid::CPU_SUSPEND_32 | fid::CPU_SUSPEND_64 => {
                self.cpu_suspend(function, arg(1), arg(2), arg(3), current, conduit)
            }
            fid::SYSTEM_SUSPEND_32
            | fid::SYSTEM_SUSPEND_64
            | fid::CPU_DEFAULT_SUSPEND_32
            | fid::CPU_DEFAULT_SUSPEND_64 => ret::NOT_SUPPORTED,
            fid::FEATURES => match (arg(1) as u32) & !crate::smccc::CALL_HINT_SVE_NOT_LIVE {
                fid::SYSTEM_SUSPEND_32
                | fid::SYSTEM_SUSPEND_64
                | fid::CPU_DEFAULT_SUSPEND_32
                | fid::CPU_DEFAULT_SUSPEND_64 => ret::NOT_SUPPORTED,
                _ => return self.forward(regs, conduit),
            },
            _ => return self.forward(regs, conduit),
        };
        regs[0] = reply as u64;
        next
    }

    /// Forwards the call unchanged; the firmware's x0..x7 are the reply.
    fn forward(&self, regs: &mut SmcRegs, conduit: &mut impl SmcConduit) -> Relayed {
        let low = conduit.smc_in_place(regs[0], regs, High::Full);
        regs[..8].copy_from_slice(&low);
        Relayed::Reply
    }

    /// CPU_ON: the reply, and whether it released a CPU held off (the caller wakes it).
    fn cpu_on(
        &self,
        mpidr: u64,
        pc: u64,
        context: u64,
        conduit: &mut impl SmcConduit,
    ) -> (i64, bool) {
        let Some(index) = self.cpu_index(mpidr) else {
            return (ret::INVALID_PARAMETERS, false);
        };
        if !(self.is_host_entry)(pc) {
            return (ret::INVALID_ADDRESS, false);
        }
        let cpu = &self.cpus[index];
        let entry = &cpu.on;
        if !entry.claim() {
            // A CPU_ON for this CPU is already in flight.
            return (ret::ON_PENDING, false);
        }
        entry.set(pc, context);
        if cpu.held_off() {
            // Held at EL2 by its CPU_OFF: the firmware still has it on, so start it here.
            // It reads the entry (releasing the claim) once it sees `held` clear.
            cpu.held.store(false, Ordering::Release);
            return (ret::SUCCESS, true);
        }
        let mut call = [0u64; 18];
        call[0] = u64::from(fid::CPU_ON_64);
        // The DT's MPIDR, not the host's spelling of it: the firmware must start exactly
        // the CPU whose context (stack) we pass.
        call[1] = self.mpidrs[index];
        call[2] = self.warm_entry;
        call[3] = self.contexts[index];
        let result = conduit.smc(&call)[0] as i64;
        if result != ret::SUCCESS {
            // The target will not run the warm entry: release the claim ourselves.
            entry.take();
        }
        (result, false)
    }

    fn cpu_suspend(
        &self,
        function: u32,
        power_state: u64,
        pc: u64,
        context: u64,
        current: usize,
        conduit: &mut impl SmcConduit,
    ) -> i64 {
        let mut call = [0u64; 18];
        call[0] = u64::from(function);
        call[1] = power_state;
        if !self.power_down(power_state) {
            // Standby: the CPU returns here; entry point and context are ignored.
            return conduit.smc(&call)[0] as i64;
        }
        if !(self.is_host_entry)(pc) {
            return ret::INVALID_ADDRESS;
        }
        let Some(cpu) = self.cpus.get(current) else {
            return ret::INVALID_PARAMETERS;
        };
        cpu.resume.set(pc, context);
        cpu.suspending.store(true, Ordering::Release);
        call[0] = u64::from(fid::CPU_SUSPEND_64);
        call[2] = self.warm_entry;
        call[3] = self.contexts[current];
        let result = conduit.smc(&call)[0] as i64;
        // Back here without losing context: no wake-up through the warm entry.
        cpu.suspending.store(false, Ordering::Release);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    use crate::testkit::{Spmc, r};

    /// The test kit's scripted Secure firmware, answering `answer` in x0 to every call and
    /// recording them ([`Spmc::calls`]).
    fn firmware(answer: i64) -> Spmc {
        Spmc {
            always: Some(r(&[answer as u64])),
            ..Spmc::new()
        }
    }

    const WARM: u64 = 0x6000_0100;

    fn relay() -> PsciRelay<impl Fn(u64) -> bool> {
        PsciRelay::new(
            vec![0, 1, 2, 0x1_0000_0003],
            vec![0x6010_0000, 0x6010_0040, 0x6010_0080, 0x6010_00c0],
            WARM,
            false,
            |pc| (0x4000_0000..0x6000_0000).contains(&pc),
        )
    }

    fn call(f: u32, a: [u64; 3]) -> SmcRegs {
        let mut r = [0; 18];
        r[0] = u64::from(f);
        r[1..4].copy_from_slice(&a);
        r
    }

    #[test]
    fn cpu_on_enters_the_hypervisor_first() {
        let relay = relay();
        let mut fw = firmware(0);
        let mut regs = call(fid::CPU_ON_64, [2, 0x4800_1000, 0xabcd]);
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(regs[0], 0);
        assert_eq!(fw.calls.len(), 1);
        assert_eq!(&fw.calls[0][..4], &[0xc400_0003, 2, WARM, 0x6010_0080]);
        assert_eq!(relay.cpu(2).unwrap().wake_reason(), WakeReason::CpuOn);
        assert_eq!(relay.cpu(2).unwrap().on.take(), (0x4800_1000, 0xabcd));
    }

    #[test]
    fn cpu_off_holds_the_cpu_at_el2_and_reaches_no_firmware() {
        let relay = relay();
        let mut fw = firmware(0);
        let mut regs = call(fid::CPU_OFF, [0, 0, 0]);
        assert_eq!(relay.handle(&mut regs, 1, &mut fw), Relayed::HoldOff);
        assert!(fw.calls.is_empty(), "CPU_OFF never reaches the firmware");
        assert!(relay.cpu(1).unwrap().held_off());
        assert!(!relay.cpu(2).unwrap().held_off());
    }

    #[test]
    fn affinity_info_of_a_held_cpu_is_off_then_on_pending_then_forwarded() {
        let relay = relay();
        let mut fw = firmware(0);
        relay.handle(&mut call(fid::CPU_OFF, [0, 0, 0]), 1, &mut fw);
        for f in [fid::AFFINITY_INFO_32, fid::AFFINITY_INFO_64] {
            let mut regs = call(f, [1, 0, 0]);
            assert_eq!(relay.handle(&mut regs, 0, &mut fw), Relayed::Reply);
            assert_eq!(regs[0] as i64, ret::AFFINITY_OFF);
        }
        assert!(fw.calls.is_empty(), "answered without the firmware");
        // Another CPU, or a level above 0: the firmware answers.
        relay.handle(&mut call(fid::AFFINITY_INFO_64, [2, 0, 0]), 0, &mut fw);
        relay.handle(&mut call(fid::AFFINITY_INFO_64, [1, 1, 0]), 0, &mut fw);
        assert_eq!(fw.calls.len(), 2);
        // CPU_ON in flight: ON_PENDING until the CPU has read its entry.
        let mut regs = call(fid::CPU_ON_64, [1, 0x4800_2000, 0x77]);
        assert_eq!(relay.handle(&mut regs, 0, &mut fw), Relayed::ReplyAndWake);
        let mut regs = call(fid::AFFINITY_INFO_64, [1, 0, 0]);
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(regs[0], 0, "not held any more: the firmware's answer (ON)");
        assert_eq!(fw.calls.len(), 3);
    }

    #[test]
    fn cpu_on_of_a_held_cpu_starts_it_without_the_firmware() {
        let relay = relay();
        let mut fw = firmware(ret::ALREADY_ON);
        relay.handle(&mut call(fid::CPU_OFF, [0, 0, 0]), 3, &mut fw);
        // A bad entry is refused as for any CPU_ON and leaves it held.
        let mut regs = call(fid::CPU_ON_64, [0x1_0000_0003, 0x6000_0000, 0]);
        assert_eq!(relay.handle(&mut regs, 0, &mut fw), Relayed::Reply);
        assert_eq!(regs[0] as i64, ret::INVALID_ADDRESS);
        assert!(relay.cpu(3).unwrap().held_off());
        // A good one releases it with the new entry; nothing reaches the firmware.
        let mut regs = call(fid::CPU_ON_64, [0x1_0000_0003, 0x4800_3000, 0x55]);
        assert_eq!(relay.handle(&mut regs, 0, &mut fw), Relayed::ReplyAndWake);
        assert_eq!(regs[0] as i64, ret::SUCCESS);
        assert!(fw.calls.is_empty());
        let cpu = relay.cpu(3).unwrap();
        assert!(!cpu.held_off());
        // A second CPU_ON before the CPU read its entry: ON_PENDING.
        let mut regs = call(fid::CPU_ON_64, [0x1_0000_0003, 0x4800_4000, 0]);
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(regs[0] as i64, ret::ON_PENDING);
        assert_eq!(cpu.on.take(), (0x4800_3000, 0x55));
        // Running again: a CPU_ON goes to the firmware, which says ALREADY_ON.
        let mut regs = call(fid::CPU_ON_64, [0x1_0000_0003, 0x4800_4000, 0]);
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(regs[0] as i64, ret::ALREADY_ON);
        assert_eq!(fw.calls.len(), 1);
    }

    #[test]
    fn cpu_on_32_uses_only_the_low_words_and_forwards_as_64() {
        let relay = relay();
        let mut fw = firmware(0);
        let mut regs = call(fid::CPU_ON_32, [0xdead_0000_0001, 0xffff_0000_4800_0000, 7]);
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(regs[0], 0);
        assert_eq!(&fw.calls[0][..4], &[0xc400_0003, 1, WARM, 0x6010_0040]);
    }

    #[test]
    fn cpu_on_with_entry_outside_host_ram_is_invalid_address() {
        let relay = relay();
        let mut fw = firmware(0);
        for pc in [0x6000_0000, 0x1000, u64::MAX] {
            let mut regs = call(fid::CPU_ON_64, [1, pc, 0]);
            relay.handle(&mut regs, 0, &mut fw);
            assert_eq!(regs[0] as i64, ret::INVALID_ADDRESS, "pc {pc:#x}");
        }
        assert!(fw.calls.is_empty(), "nothing reaches the firmware");
    }

    #[test]
    fn cpu_on_of_unknown_cpu_is_invalid_parameters() {
        let relay = relay();
        let mut fw = firmware(0);
        let mut regs = call(fid::CPU_ON_64, [0x4, 0x4800_0000, 0]);
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(regs[0] as i64, ret::INVALID_PARAMETERS);
        assert!(fw.calls.is_empty());
    }

    #[test]
    fn cpu_on_refused_by_firmware_releases_the_slot() {
        let relay = relay();
        let mut fw = firmware(ret::ALREADY_ON);
        let mut regs = call(fid::CPU_ON_64, [0x1_0000_0003, 0x4800_0000, 0]);
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(regs[0] as i64, ret::ALREADY_ON);
        fw.always = Some(r(&[0]));
        let mut regs = call(fid::CPU_ON_64, [0x1_0000_0003, 0x4800_0000, 0]);
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(regs[0], 0, "the slot was released after the refusal");
    }

    #[test]
    fn sve_hint_bit_does_not_bypass_the_relay() {
        let relay = relay();
        let mut fw = firmware(0);
        // CPU_ON with the hint: still relayed through the warm entry.
        let mut regs = call(fid::CPU_ON_64 | 1 << 16, [1, 0x4800_0000, 5]);
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(&fw.calls[0][..4], &[0xc400_0003, 1, WARM, 0x6010_0040]);
        // CPU_ON into the carve-out with the hint: refused, nothing forwarded.
        let mut regs = call(fid::CPU_ON_64 | 1 << 16, [2, 0x6000_0000, 5]);
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(regs[0] as i64, ret::INVALID_ADDRESS);
        // SYSTEM_SUSPEND and FEATURES(SYSTEM_SUSPEND) with the hint: still refused here.
        let mut regs = call(fid::SYSTEM_SUSPEND_64 | 1 << 16, [0x4800_0000, 0, 0]);
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(regs[0] as i64, ret::NOT_SUPPORTED);
        let mut regs = call(
            fid::FEATURES,
            [u64::from(fid::SYSTEM_SUSPEND_64 | 1 << 16), 0, 0],
        );
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(regs[0] as i64, ret::NOT_SUPPORTED);
        // CPU_SUSPEND power-down with the hint: relayed.
        let mut regs = call(fid::CPU_SUSPEND_64 | 1 << 16, [0x0001_0000, 0x4800_0000, 1]);
        relay.handle(&mut regs, 1, &mut fw);
        assert_eq!(fw.calls[1][2], WARM);
        assert_eq!(fw.calls.len(), 2);
    }

    #[test]
    fn answers_given_here_preserve_the_other_registers() {
        let relay = relay();
        let mut fw = firmware(0);
        let mut regs = call(fid::CPU_ON_64, [1, 0x1000, 7]);
        regs[5] = 0x5555;
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(regs[0] as i64, ret::INVALID_ADDRESS);
        assert_eq!((regs[1], regs[3], regs[5]), (1, 7, 0x5555));
    }

    #[test]
    fn cpu_on_forwards_the_device_tree_mpidr() {
        let relay = relay();
        let mut fw = firmware(0);
        // MT/U-style bits above the affinity fields are dropped: the DT's value goes out.
        let mut regs = call(fid::CPU_ON_64, [0x8000_0000 | 2, 0x4800_0000, 0]);
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(fw.calls[0][1], 2);
    }

    #[test]
    fn second_cpu_on_in_flight_is_on_pending() {
        let relay = relay();
        let mut fw = firmware(0);
        let mut regs = call(fid::CPU_ON_64, [1, 0x4800_0000, 0]);
        relay.handle(&mut regs, 0, &mut fw);
        let mut regs = call(fid::CPU_ON_64, [1, 0x4800_0000, 0]);
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(regs[0] as i64, ret::ON_PENDING);
        assert_eq!(fw.calls.len(), 1);
    }

    #[test]
    fn power_down_suspend_goes_through_the_warm_entry_and_standby_does_not() {
        let relay = relay();
        let mut fw = firmware(0);
        let mut regs = call(fid::CPU_SUSPEND_64, [0x0001_0000, 0x4800_2000, 9]);
        relay.handle(&mut regs, 1, &mut fw);
        assert_eq!(
            &fw.calls[0][..4],
            &[0xc400_0001, 0x0001_0000, WARM, 0x6010_0040]
        );
        let mut regs = call(fid::CPU_SUSPEND_64, [0x0000_0001, 0x4800_2000, 9]);
        relay.handle(&mut regs, 1, &mut fw);
        assert_eq!(&fw.calls[1][..4], &[0xc400_0001, 1, 0, 0]);
    }

    #[test]
    fn system_suspend_is_not_supported_and_features_say_so() {
        let relay = relay();
        let mut fw = firmware(0);
        let mut regs = call(fid::SYSTEM_SUSPEND_64, [0x4800_0000, 0, 0]);
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(regs[0] as i64, ret::NOT_SUPPORTED);
        let mut regs = call(fid::FEATURES, [u64::from(fid::SYSTEM_SUSPEND_64), 0, 0]);
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(regs[0] as i64, ret::NOT_SUPPORTED);
        assert!(fw.calls.is_empty());
        let mut regs = call(fid::FEATURES, [u64::from(fid::CPU_ON_64), 0, 0]);
        relay.handle(&mut regs, 0, &mut fw);
        assert_eq!(
            fw.calls.len(),
            1,
            "other features are the firmware's to answer"
        );
    }

    #[test]
    fn psci_range() {
        assert!(is_psci(fid::VERSION));
        assert!(is_psci(fid::CPU_ON_64));
        assert!(is_psci(0x8400_001f));
        assert!(!is_psci(ffa_spec::fid::ERROR), "FF-A is not PSCI");
        assert!(!is_psci(0x8600_0000));
    }

    /// The values taken from the `smccc` crate, checked against DEN0022's tables (function
    /// IDs §5.1, return codes §5.2.2) and SMCCC's NOT_SUPPORTED as a 64-bit register.
    #[test]
    fn ids_and_codes_match_the_specs() {
        let ids = [
            (fid::VERSION, 0x8400_0000),
            (fid::CPU_SUSPEND_32, 0x8400_0001),
            (fid::CPU_SUSPEND_64, 0xc400_0001),
            (fid::CPU_OFF, 0x8400_0002),
            (fid::CPU_ON_32, 0x8400_0003),
            (fid::CPU_ON_64, 0xc400_0003),
            (fid::AFFINITY_INFO_64, 0xc400_0004),
            (fid::SYSTEM_OFF, 0x8400_0008),
            (fid::SYSTEM_RESET, 0x8400_0009),
            (fid::FEATURES, 0x8400_000a),
            (fid::CPU_DEFAULT_SUSPEND_32, 0x8400_000c),
            (fid::CPU_DEFAULT_SUSPEND_64, 0xc400_000c),
            (fid::SYSTEM_SUSPEND_32, 0x8400_000e),
            (fid::SYSTEM_SUSPEND_64, 0xc400_000e),
        ];
        for (id, want) in ids {
            assert_eq!(id, want);
        }
        assert_eq!(
            [
                ret::SUCCESS,
                ret::NOT_SUPPORTED,
                ret::INVALID_PARAMETERS,
                ret::ALREADY_ON,
                ret::ON_PENDING,
                ret::INVALID_ADDRESS
            ],
            [0, -1, -2, -4, -5, -9]
        );
        assert_eq!(crate::smccc::NOT_SUPPORTED, u64::MAX);
        assert_eq!(crate::smccc::SMCCC_VERSION, 0x8000_0000);
        assert_eq!(crate::smccc::SMCCC_ARCH_FEATURES, 0x8000_0001);
        assert_eq!(crate::smccc::SMCCC_ARCH_WORKAROUND_1, 0x8000_8000);
    }
}
