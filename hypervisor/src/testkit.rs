//! The test kit: what unit tests, property tests and fuzz targets run the FF-A proxy and the
//! memory-protection core against, on the development host.
//!
//! - [`Spmc`]: the one scripted SPMC. Every SMC is recorded ([`Spmc::calls`]); a reply comes
//!   from the first of: the script ([`Spmc::script`], in order), a fixed reply to everything
//!   ([`Spmc::always`]), the probe protocol (`FFA_VERSION`, `FFA_ID_GET`), a test's own
//!   responder ([`Spmc::respond`], the fuzz targets' fuzzed replies), a model of OP-TEE
//!   4.10's SPMC for the mailbox and memory ABIs (`thread_spmc.c`: `spmc_handle_rxtx_map`,
//!   `spmc_handle_rx_release`, `spmc_handle_partition_info_get`, `handle_mem_op`,
//!   `handle_mem_reclaim`, including its habit of leaving the caller's RX full after a
//!   failed PARTITION_INFO_GET), and last [`Spmc::other`];
//! - [`SimMemory`]: simulated physical memory by page, which the SPMC and the proxy share
//!   (the proxy reaches it through [`PhysMem`]); a proxy without memory has none, and any
//!   access panics;
//! - [`SimStage2`]: a simulated host stage 2 (the set of pages taken out of it), shared
//!   between the [`MemProtect`] that changes it, the SPMC and the test that looks at it;
//! - [`Hyp`]: the proxy beside its memory core, as the firmware's global state holds them.
//!
//! Function IDs and status codes come from `ffa_spec` (the spec's numbers, checked there
//! against DEN0077's tables), never from the production ABI table, so that what the kit
//! answers stays independent of what it tests.
//!
//! Compiled for `cfg(test)` and with the `testkit` feature (the fuzz crate enables it); never
//! in the firmware.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::{Deref, Range};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::budget::OWNERSHIP_RUNS;
use crate::ffa::{MemConfig, MemStatus, Outcome, PhysMem, Platform, Proxy};
use crate::mm::{MemProtect, Stage2Error, Stage2Hook};
use crate::smccc::{SmcConduit, SmcRegs};
use ffa_spec::{fid, status};

const FFA_ERROR: u64 = fid::ERROR as u64;
const SUCCESS_32: u64 = fid::SUCCESS_32 as u64;
const FFA_VERSION: u64 = fid::VERSION as u64;
const FFA_FEATURES: u64 = fid::FEATURES as u64;
const RX_RELEASE: u64 = fid::RX_RELEASE as u64;
const RXTX_MAP_64: u64 = fid::RXTX_MAP_64 as u64;
const PART_INFO_GET: u64 = fid::PARTITION_INFO_GET as u64;
const ID_GET: u64 = fid::ID_GET as u64;
const DIRECT_REQ_32: u64 = fid::MSG_SEND_DIRECT_REQ_32 as u64;
const DIRECT_REQ_64: u64 = fid::MSG_SEND_DIRECT_REQ_64 as u64;
const DIRECT_RESP_32: u64 = fid::MSG_SEND_DIRECT_RESP_32 as u64;
const DIRECT_RESP_64: u64 = fid::MSG_SEND_DIRECT_RESP_64 as u64;
const MEM_LEND_32: u64 = fid::MEM_LEND_32 as u64;
const MEM_LEND_64: u64 = fid::MEM_LEND_64 as u64;
const MEM_SHARE_32: u64 = fid::MEM_SHARE_32 as u64;
const MEM_SHARE_64: u64 = fid::MEM_SHARE_64 as u64;
const MEM_RECLAIM: u64 = fid::MEM_RECLAIM as u64;
const MEM_FRAG_RX: u64 = fid::MEM_FRAG_RX as u64;
const MEM_FRAG_TX: u64 = fid::MEM_FRAG_TX as u64;
const SPM_ID_GET: u64 = fid::SPM_ID_GET as u64;
const DIRECT_REQ2: u64 = fid::MSG_SEND_DIRECT_REQ2 as u64;
const DIRECT_RESP2: u64 = fid::MSG_SEND_DIRECT_RESP2 as u64;

const INVALID_PARAMETERS: u64 = status::INVALID_PARAMETERS as u32 as u64;
const BUSY: u64 = status::BUSY as u32 as u64;
const DENIED: u64 = status::DENIED as u32 as u64;
const NOT_SUPPORTED: u64 = status::NOT_SUPPORTED as u32 as u64;

/// A register set from its first few values (the rest zero).
pub fn r(vals: &[u64]) -> SmcRegs {
    let mut regs = [0; 18];
    regs[..vals.len()].copy_from_slice(vals);
    regs
}

/// Simulated physical memory, by 4 KiB page.
pub struct SimMemory {
    pages: HashMap<u64, Vec<u8>>,
    /// The byte at an address never written (0 unless a test wants garbage there).
    pub blank: fn(u64) -> u8,
    /// If not empty, the only ranges the proxy may read or write.
    pub allowed: Vec<Range<u64>>,
    /// After the proxy's next read, write these bytes at this address (another CPU
    /// rewriting the host's TX behind the proxy's back).
    pub rewrite_after_read: Option<(u64, Vec<u8>)>,
}

impl Default for SimMemory {
    fn default() -> Self {
        SimMemory {
            pages: HashMap::new(),
            blank: |_| 0,
            allowed: Vec::new(),
            rewrite_after_read: None,
        }
    }
}

impl SimMemory {
    /// `len` bytes at `pa`.
    pub fn peek(&self, pa: u64, len: usize) -> Vec<u8> {
        (0..len as u64)
            .map(|i| {
                let a = pa + i;
                self.pages
                    .get(&(a & !0xFFF))
                    .map_or((self.blank)(a), |p| p[(a & 0xFFF) as usize])
            })
            .collect()
    }

    /// Writes `bytes` at `pa`.
    pub fn poke(&mut self, pa: u64, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            let a = pa + i as u64;
            let page = self
                .pages
                .entry(a & !0xFFF)
                .or_insert_with(|| alloc::vec![0; 4096]);
            page[(a & 0xFFF) as usize] = *b;
        }
    }

    fn check(&self, pa: u64, len: usize, what: &str) {
        let end = pa.saturating_add(len as u64);
        assert!(
            self.allowed.is_empty() || self.allowed.iter().any(|r| r.start <= pa && end <= r.end),
            "{what} {pa:#x}+{len} outside the memory the proxy may touch"
        );
    }
}

/// One partition as the SPMC reports it: ID, execution contexts, properties, UUID.
pub type Partition = (u16, u16, u32, [u8; 16]);

/// OP-TEE as a partition.
pub const OPTEE: Partition = (0x8001, 4, 0x0000_0137, *b"OP-TEE-UUID-0001");
/// A second partition.
pub const OTHER: Partition = (0x8002, 1, 0x0000_0003, *b"another-sp-uuid!");

/// How [`Spmc`] answers what nothing before it answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Other {
    /// Like a real SPMC that serves every call: `FFA_MSG_SEND_DIRECT_REQ*` get the matching
    /// response from partition 0x8001, `FFA_SPM_ID_GET` ID 0x8000, anything else
    /// `FFA_SUCCESS_32` with junk in x8 (real SPMCs leave junk in undefined registers; the
    /// proxy must not pass it on). The mailbox and memory ABIs go to the model.
    Success,
    /// `FFA_ERROR(NOT_SUPPORTED)`, except `FFA_SPM_ID_GET` (ID 0x8000). The mailbox and
    /// memory ABIs go to the model.
    NotSupported,
    /// This reply to everything but the probe protocol; no model.
    Reply(SmcRegs),
}

/// A test's own answers: given the call, the memory and the stage 2, the reply.
pub type Responder = Box<dyn FnMut(&SmcRegs, &mut SimMemory, &SimStage2) -> SmcRegs>;

/// The scripted SPMC. See the module documentation for the order in which it answers.
pub struct Spmc {
    /// Every SMC the proxy made (its own and the forwarded ones).
    pub calls: Vec<SmcRegs>,
    /// Replies that override everything, in order.
    pub script: VecDeque<SmcRegs>,
    /// A reply to every call (after the script).
    pub always: Option<SmcRegs>,
    /// The SPMC's own version, its `FFA_VERSION` answer.
    pub version: u64,
    /// What ID 0 last asked in `FFA_VERSION` (the model's descriptors follow it).
    pub negotiated: u64,
    /// A test's own answers, after the probe protocol (replaces the model and `other`).
    pub respond: Option<Responder>,
    /// What answers the rest.
    pub other: Other,
    /// Physical memory; `None` for a proxy without memory (any access panics).
    pub memory: Option<SimMemory>,
    /// The host's stage 2, shared with the memory core (see [`Hyp::with_memory`]).
    pub stage2: SimStage2,
    /// Model: ID 0's registered (TX, RX).
    pub registered: Option<(u64, u64)>,
    /// Model: ID 0's RX is full (the caller owns it).
    pub rx_full: bool,
    /// Model: the partitions.
    pub partitions: Vec<Partition>,
    /// Model: FFA_FEATURES(FFA_RXTX_MAP_64) w2.
    pub rxtx_features: u64,
    /// Model: live shares and lends, handle -> (address, pages).
    pub shares: HashMap<u64, Vec<(u64, u32)>>,
    /// Model: the next handle.
    pub next_handle: u64,
    /// Model: for every LEND, whether all its pages were out of the host's stage 2 by then.
    pub lends_saw_unmapped: Vec<bool>,
    /// Model: a fragmented transaction in progress: handle, total length, function, bytes so
    /// far.
    pub fragments: Option<(u64, usize, u64, Vec<u8>)>,
    /// Model: every complete descriptor assembled.
    pub whole_descriptors: Vec<Vec<u8>>,
}

impl Spmc {
    /// A v1.2 SPMC serving every call ([`Other::Success`]), for a proxy without memory.
    pub fn new() -> Self {
        Spmc {
            calls: Vec::new(),
            script: VecDeque::new(),
            always: None,
            version: 0x1_0002,
            negotiated: 0x1_0002,
            respond: None,
            other: Other::Success,
            memory: None,
            stage2: SimStage2::default(),
            registered: None,
            rx_full: false,
            partitions: alloc::vec![OPTEE, OTHER],
            rxtx_features: 0,
            shares: HashMap::new(),
            next_handle: 0x1000_0000_0001,
            lends_saw_unmapped: Vec::new(),
            fragments: None,
            whole_descriptors: Vec::new(),
        }
    }

    /// A v1.2 SPMC modelled on OP-TEE 4.10 for the mailbox and memory ABIs
    /// ([`Other::NotSupported`] for the rest), with memory.
    pub fn optee() -> Self {
        Spmc {
            other: Other::NotSupported,
            memory: Some(SimMemory::default()),
            ..Self::new()
        }
    }

    /// A v1.2 SPMC that answers `reply` to everything but the probe protocol, with memory
    /// if `memory`.
    pub fn replying(reply: SmcRegs, memory: bool) -> Self {
        Spmc {
            other: Other::Reply(reply),
            memory: memory.then(SimMemory::default),
            ..Self::new()
        }
    }

    /// Queues `reply` after the script's others.
    pub fn then(&mut self, reply: SmcRegs) -> &mut Self {
        self.script.push_back(reply);
        self
    }

    /// The memory (the test set one up).
    pub fn mem(&mut self) -> &mut SimMemory {
        self.memory.as_mut().expect("an SPMC without memory")
    }

    /// `len` bytes at `pa`.
    pub fn peek(&self, pa: u64, len: usize) -> Vec<u8> {
        self.memory
            .as_ref()
            .expect("an SPMC without memory")
            .peek(pa, len)
    }

    /// Writes `bytes` at `pa`.
    pub fn poke(&mut self, pa: u64, bytes: &[u8]) {
        self.mem().poke(pa, bytes);
    }

    /// x0 of every call made.
    pub fn ffa_calls(&self) -> Vec<u64> {
        self.calls.iter().map(|c| c[0]).collect()
    }

    fn descriptor_size(&self) -> usize {
        if self.negotiated >= 0x1_0001 { 24 } else { 8 }
    }

    /// The OP-TEE model, for the calls it covers.
    fn model(&mut self, regs: &SmcRegs) -> Option<SmcRegs> {
        Some(match regs[0] {
            FFA_FEATURES if regs[1] == RXTX_MAP_64 => r(&[SUCCESS_32, 0, self.rxtx_features]),
            RXTX_MAP_64 => {
                if self.registered.is_some() {
                    return Some(r(&[FFA_ERROR, 0, DENIED]));
                }
                self.registered = Some((regs[1], regs[2]));
                r(&[SUCCESS_32])
            }
            RX_RELEASE => {
                if self.registered.is_none() || !self.rx_full {
                    return Some(r(&[FFA_ERROR, 0, DENIED]));
                }
                self.rx_full = false;
                r(&[SUCCESS_32])
            }
            PART_INFO_GET => self.partition_info_get(regs),
            MEM_SHARE_32 | MEM_SHARE_64 | MEM_LEND_32 | MEM_LEND_64 => self.mem_share(regs),
            MEM_FRAG_TX => self.frag_tx(regs),
            MEM_RECLAIM => {
                let handle = (regs[1] & 0xFFFF_FFFF) | regs[2] << 32;
                if self.fragments.as_ref().is_some_and(|f| f.0 == handle) {
                    // An incomplete transaction can be aborted (OP-TEE 4.10 cannot).
                    self.fragments = None;
                    return Some(r(&[SUCCESS_32]));
                }
                if self.shares.remove(&handle).is_some() {
                    r(&[SUCCESS_32])
                } else {
                    r(&[FFA_ERROR, 0, INVALID_PARAMETERS])
                }
            }
            _ => return None,
        })
    }

    fn partition_info_get(&mut self, regs: &SmcRegs) -> SmcRegs {
        let count_only = self.negotiated >= 0x1_0001 && regs[5] & 1 != 0;
        let uuid: Vec<u8> = regs[1..5]
            .iter()
            .flat_map(|w| (*w as u32).to_le_bytes())
            .collect();
        let matching: Vec<Partition> = self
            .partitions
            .iter()
            .filter(|p| uuid.iter().all(|b| *b == 0) || p.3[..] == uuid[..])
            .copied()
            .collect();
        if count_only {
            return r(&[SUCCESS_32, 0, matching.len() as u64, 0]);
        }
        let Some((_, rx)) = self.registered else {
            return r(&[FFA_ERROR, 0, BUSY]);
        };
        if self.rx_full {
            return r(&[FFA_ERROR, 0, BUSY]);
        }
        // OP-TEE: the caller's RX is full after every non-count call, errors included.
        self.rx_full = true;
        if matching.is_empty() {
            return r(&[FFA_ERROR, 0, INVALID_PARAMETERS]);
        }
        let size = self.descriptor_size();
        for (i, p) in matching.iter().enumerate() {
            let mut d = Vec::new();
            d.extend_from_slice(&p.0.to_le_bytes());
            d.extend_from_slice(&p.1.to_le_bytes());
            d.extend_from_slice(&p.2.to_le_bytes());
            if size == 24 {
                d.extend_from_slice(&p.3);
            }
            self.poke(rx + (i * size) as u64, &d);
        }
        let w3 = if size == 24 { 24 } else { 0 };
        r(&[SUCCESS_32, 0, matching.len() as u64, w3])
    }

    fn mem_share(&mut self, regs: &SmcRegs) -> SmcRegs {
        let Some((tx, _)) = self.registered else {
            return r(&[FFA_ERROR, 0, DENIED]);
        };
        if regs[3] != 0 || regs[4] != 0 {
            return r(&[FFA_ERROR, 0, INVALID_PARAMETERS]);
        }
        let (total, frag) = (regs[1] as usize, regs[2] as usize);
        if frag < total {
            // OP-TEE's way: a handle now, FRAG_RX for the rest.
            let handle = self.next_handle;
            self.next_handle += 1;
            self.fragments = Some((handle, total, regs[0], self.peek(tx, frag)));
            return r(&[MEM_FRAG_RX, handle & 0xFFFF_FFFF, handle >> 32, frag as u64]);
        }
        let d = self.peek(tx, total);
        self.record_share(regs[0], &d, None)
    }

    /// FFA_MEM_FRAG_TX from ID 0.
    fn frag_tx(&mut self, regs: &SmcRegs) -> SmcRegs {
        let handle = (regs[1] & 0xFFFF_FFFF) | regs[2] << 32;
        let Some((expected, total, function, mut d)) = self.fragments.take() else {
            return r(&[FFA_ERROR, 0, INVALID_PARAMETERS]);
        };
        if handle != expected || regs[4] != 0 {
            return r(&[FFA_ERROR, 0, INVALID_PARAMETERS]);
        }
        let Some((tx, _)) = self.registered else {
            return r(&[FFA_ERROR, 0, DENIED]);
        };
        d.extend(self.peek(tx, regs[3] as usize));
        if d.len() < total {
            let offset = d.len() as u64;
            self.fragments = Some((handle, total, function, d));
            return r(&[MEM_FRAG_RX, handle & 0xFFFF_FFFF, handle >> 32, offset]);
        }
        self.record_share(function, &d, Some(handle))
    }

    /// Remembers the pages of a complete descriptor `d` under a new handle (or `handle`).
    fn record_share(&mut self, function: u64, d: &[u8], handle: Option<u64>) -> SmcRegs {
        self.whole_descriptors.push(d.to_vec());
        // Minimal decoding, enough to remember the pages: the composite offset of the first
        // receiver, then the constituents.
        let header = if self.negotiated >= 0x1_0001 { 48 } else { 32 };
        let at = |o: usize| {
            let mut w = [0; 4];
            w.copy_from_slice(&d[o..o + 4]);
            u32::from_le_bytes(w)
        };
        let composite = at(header + 4) as usize;
        let count = at(composite + 4) as usize;
        let ranges: Vec<(u64, u32)> = (0..count)
            .map(|i| {
                let c = composite + 16 + 16 * i;
                let mut w = [0; 8];
                w.copy_from_slice(&d[c..c + 8]);
                (u64::from_le_bytes(w), at(c + 8))
            })
            .collect();
        if function & 0xFF == 0x72 {
            let unmapped = ranges
                .iter()
                .all(|&(a, n)| (0..u64::from(n)).all(|i| self.stage2.is_unmapped(a + i * 4096)));
            self.lends_saw_unmapped.push(unmapped);
        }
        let handle = handle.unwrap_or_else(|| {
            self.next_handle += 1;
            self.next_handle - 1
        });
        self.shares.insert(handle, ranges);
        r(&[SUCCESS_32, 0, handle & 0xFFFF_FFFF, handle >> 32])
    }
}

impl Default for Spmc {
    fn default() -> Self {
        Self::new()
    }
}

impl SmcConduit for Spmc {
    fn smc(&mut self, regs: &SmcRegs) -> SmcRegs {
        self.calls.push(*regs);
        if let Some(reply) = self.script.pop_front() {
            return reply;
        }
        if let Some(reply) = self.always {
            return reply;
        }
        match regs[0] {
            FFA_VERSION => {
                self.negotiated = regs[1];
                return r(&[self.version]);
            }
            ID_GET => return r(&[SUCCESS_32, 0, 0]),
            _ => {}
        }
        if let Some(respond) = self.respond.as_mut() {
            let memory = self.memory.get_or_insert_with(SimMemory::default);
            return respond(regs, memory, &self.stage2);
        }
        let junk = match self.other {
            Other::Reply(reply) => return reply,
            Other::Success => true,
            Other::NotSupported => false,
        };
        if let Some(reply) = self.model(regs) {
            return reply;
        }
        match regs[0] {
            SPM_ID_GET => r(&[SUCCESS_32, 0, 0x8000]),
            _ if !junk => r(&[FFA_ERROR, 0, NOT_SUPPORTED]),
            DIRECT_REQ_32 => r(&[DIRECT_RESP_32, 0x8001_0000, 0, 1, 0, 0, 0, 0, 0xBAD8]),
            DIRECT_REQ_64 => r(&[DIRECT_RESP_64, 0x8001_0000, 0, 1, 0, 0, 0, 0, 0xBAD8]),
            DIRECT_REQ2 => r(&[DIRECT_RESP2, 0x8001_0000, 0, 0, 1]),
            _ => r(&[SUCCESS_32, 0, 0, 0, 0, 0, 0, 0, 0xBAD8]),
        }
    }
}

impl PhysMem for Spmc {
    fn read(&mut self, pa: u64, dst: &mut [u8]) {
        let Some(memory) = self.memory.as_mut() else {
            panic!("read of {pa:#x} by a proxy without memory");
        };
        memory.check(pa, dst.len(), "read");
        assert!(!self.stage2.is_unmapped(pa), "read of a lent page {pa:#x}");
        dst.copy_from_slice(&memory.peek(pa, dst.len()));
        if let Some((at, new)) = memory.rewrite_after_read.take() {
            memory.poke(at, &new);
        }
    }

    fn write(&mut self, pa: u64, src: &[u8]) {
        let Some(memory) = self.memory.as_mut() else {
            panic!("write of {pa:#x} by a proxy without memory");
        };
        memory.check(pa, src.len(), "write");
        assert!(!self.stage2.is_unmapped(pa), "write to a lent page {pa:#x}");
        memory.poke(pa, src);
    }
}

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
