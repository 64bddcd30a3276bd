//! The test kit: what unit tests, property tests and fuzz targets run the FF-A proxy and the
//! memory-protection core against, on the development host.
//!
//! - [`SimStage2`]: a simulated host stage 2 (the set of pages taken out of it), shared
//!   between the [`MemProtect`] that changes it and the test that looks at it;
//! - [`Hyp`]: the proxy beside its memory core, as the firmware's global state holds them.
//!
//! Compiled for `cfg(test)` and with the `testkit` feature (the fuzz crate enables it); never
//! in the firmware.

use alloc::boxed::Box;
use core::ops::{Deref, Range};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::budget::OWNERSHIP_RUNS;
use crate::ffa::{MemConfig, MemStatus, Outcome, Platform, Proxy};
use crate::mm::{MemProtect, Stage2Error, Stage2Hook};
use crate::smccc::SmcRegs;

/// What the simulated host stage 2 holds.
#[derive(Debug, Default)]
pub struct Stage2View {
    /// Pages (4 KiB-aligned addresses) taken out of the host's stage 2.
    pub unmapped: BTreeSet<u64>,
    /// Refuse the unmapping of a range holding this address (a table page that cannot be
    /// had).
    pub fails_at: Option<u64>,
}

/// A simulated host stage 2. Clones share one view. Unmapping a page twice, or mapping back
/// a page that was never unmapped, is a bug in the core and panics.
#[derive(Clone, Debug, Default)]
pub struct SimStage2(Arc<Mutex<Stage2View>>);

impl SimStage2 {
    /// The current view.
    pub fn view(&self) -> MutexGuard<'_, Stage2View> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the page holding `pa` is out of the host's stage 2.
    pub fn is_unmapped(&self, pa: u64) -> bool {
        self.view().unmapped.contains(&(pa & !0xFFF))
    }
}

impl Stage2Hook for SimStage2 {
    fn unmap(&mut self, range: Range<u64>) -> Result<(), Stage2Error> {
        let mut view = self.view();
        if view.fails_at.is_some_and(|a| range.contains(&a)) {
            return Err(Stage2Error);
        }
        for page in range.step_by(4096) {
            assert!(view.unmapped.insert(page), "page {page:#x} unmapped twice");
        }
        Ok(())
    }

    fn map(&mut self, range: Range<u64>) -> Result<(), Stage2Error> {
        let mut view = self.view();
        for page in range.step_by(4096) {
            assert!(
                view.unmapped.remove(&page),
                "page {page:#x} mapped back but never unmapped"
            );
        }
        Ok(())
    }
}

/// A memory core over `ram` (the default run budget) and the simulated stage 2 `stage2`.
pub fn memory(ram: &[Range<u64>], stage2: &SimStage2) -> MemProtect {
    MemProtect::new(ram, OWNERSHIP_RUNS, Box::new(stage2.clone()))
}

/// A memory core with no host RAM, for proxies without memory.
pub fn no_memory() -> &'static MemProtect {
    static NONE: OnceLock<MemProtect> = OnceLock::new();
    NONE.get_or_init(MemProtect::without_ram)
}

/// The proxy beside its memory core, as the firmware's global state holds them. Derefs to
/// the proxy; [`Hyp::handle`] passes the core along.
pub struct Hyp {
    /// The FF-A proxy.
    pub ffa: Proxy,
    /// Its memory core.
    pub mm: MemProtect,
}

impl Hyp {
    /// `ffa` without memory.
    pub fn bare(ffa: Proxy) -> Self {
        Hyp {
            ffa,
            mm: MemProtect::without_ram(),
        }
    }

    /// `ffa` given the mailbox `(tx, rx)` over a memory core of `ram` and `stage2`.
    pub fn with_memory(
        ffa: Proxy,
        (hyp_tx, hyp_rx): (u64, u64),
        ram: &[Range<u64>],
        stage2: &SimStage2,
    ) -> Self {
        let mm = memory(ram, stage2);
        Hyp {
            ffa: ffa.with_memory(MemConfig { hyp_tx, hyp_rx }, &mm),
            mm,
        }
    }

    /// [`Proxy::handle`] with this core.
    pub fn handle(&self, regs: &mut SmcRegs, smc_imm: u16, p: &mut impl Platform) -> Outcome {
        self.ffa.handle(regs, smc_imm, &self.mm, p)
    }

    /// [`Proxy::memory_status`] with this core.
    pub fn memory_status(&self) -> MemStatus {
        self.ffa.memory_status(&self.mm)
    }
}

impl Deref for Hyp {
    type Target = Proxy;
    fn deref(&self) -> &Proxy {
        &self.ffa
    }
}
