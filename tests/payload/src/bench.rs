//! The bench workload: `bench` on the payload's command line (`/chosen/bootargs`) replaces
//! the cases with a fixed series of calls, so that `make bench` (ci/bench.sh, with the
//! el-counter plugin) can give the hypervisor's EL2 instructions per call and function ID
//! for calls Linux does not make at boot:
//!
//! 1. `FFA_VERSION(1.2)` (emulated) and `FFA_NOTIFICATION_BITMAP_CREATE` (forwarded), once;
//! 2. [`ROUNDS`] rounds of: `FFA_NOTIFICATION_GET`, `FFA_FEATURES(FFA_MSG_SEND_DIRECT_REQ)`,
//!    `FFA_ID_GET`, `FFA_MSG_SEND_DIRECT_REQ_32` and `_64` to OP-TEE (endpoint 0x8001,
//!    OP-TEE's "get API version" message), a rejected call (`FFA_NOTIFICATION_SET` with a
//!    sender ID other than the host's 0: `INVALID_PARAMETERS`, never forwarded; a function
//!    ID of its own, so that the plugin, which keys calls by w0, counts it apart),
//!    `PSCI_VERSION` and `SMCCC_VERSION`; then the memory path: `FFA_MEM_SHARE_64` of one
//!    page to OP-TEE and its `FFA_MEM_RECLAIM`, `FFA_MEM_LEND_64` of one page, one load from
//!    the lent page (the hypervisor injects a synchronous external abort, taken at the
//!    payload's EL1 vector and skipped: the host stage-2 abort window) and its
//!    `FFA_MEM_RECLAIM`, and `FFA_RXTX_UNMAP` + `FFA_RXTX_MAP_64` of the payload's mailbox
//!    (mapped once before the rounds);
//! 3. a line `PAYLOAD-BENCH rounds=<n> calls=<m> unexpected=<k>` (a call answered other than
//!    expected: the bench says so rather than measure a different path), then power-off.
//!
//! Its own file and one switch in `main.rs`, so that it stays apart from the cases.

use ::ffa_spec::{fid, status};

use core::cell::UnsafeCell;

use crate::exceptions::{ProbeKind, run_probe};
use crate::ffa_call::{self, Conduit};

/// Rounds of the loop; every call ID in it is made this many times.
pub const ROUNDS: u32 = 100;

const FFA_ERROR: u64 = fid::ERROR as u64;
const FFA_SUCCESS_32: u64 = fid::SUCCESS_32 as u64;
const FFA_VERSION: u64 = fid::VERSION as u64;
const FFA_FEATURES: u64 = fid::FEATURES as u64;
const FFA_ID_GET: u64 = fid::ID_GET as u64;
const DIRECT_REQ_32: u64 = fid::MSG_SEND_DIRECT_REQ_32 as u64;
const DIRECT_REQ_64: u64 = fid::MSG_SEND_DIRECT_REQ_64 as u64;
const DIRECT_RESP_32: u64 = fid::MSG_SEND_DIRECT_RESP_32 as u64;
const BITMAP_CREATE: u64 = fid::NOTIFICATION_BITMAP_CREATE as u64;
const NOTIFICATION_SET: u64 = fid::NOTIFICATION_SET as u64;
const NOTIFICATION_GET: u64 = fid::NOTIFICATION_GET as u64;
const RXTX_MAP_64: u64 = fid::RXTX_MAP_64 as u64;
const RXTX_UNMAP: u64 = fid::RXTX_UNMAP as u64;
const MEM_SHARE_64: u64 = fid::MEM_SHARE_64 as u64;
const MEM_LEND_64: u64 = (fid::MEM_LEND_32 | fid::SMC64) as u64;
const MEM_RECLAIM: u64 = fid::MEM_RECLAIM as u64;
const PSCI_VERSION: u64 = 0x8400_0000;
const SMCCC_VERSION: u64 = 0x8000_0000;
/// OP-TEE's FF-A endpoint ID on this stack.
const OPTEE: u64 = 0x8001;
/// FFA_ERROR status INVALID_PARAMETERS as w2.
const INVALID_PARAMETERS: u64 = status::INVALID_PARAMETERS as u32 as u64;

/// A 4 KiB page of the payload's own RAM (host RAM to the hypervisor).
#[repr(C, align(4096))]
struct Page(UnsafeCell<[u32; 1024]>);

// SAFETY: only the boot CPU runs the bench; the secondaries are parked.
unsafe impl Sync for Page {}

impl Page {
    const fn new() -> Self {
        Page(UnsafeCell::new([0; 1024]))
    }

    fn addr(&self) -> u64 {
        self.0.get() as u64
    }

    /// Writes the aligned word at byte `offset` (the MMU is off: Device memory, so aligned
    /// accesses only; volatile so that it reaches memory before the SMC).
    fn write32(&self, offset: usize, value: u32) {
        assert!(offset.is_multiple_of(4) && offset < 4096);
        // SAFETY: in bounds and aligned (checked); only this CPU touches the page.
        unsafe {
            self.0
                .get()
                .cast::<u32>()
                .add(offset / 4)
                .write_volatile(value)
        }
    }
}

/// The payload's TX and RX buffers for the bench, and the page it shares and lends.
static TX: Page = Page::new();
static RX: Page = Page::new();
static MEMORY: Page = Page::new();

/// Writes into TX the v1.2 transaction descriptor of one page at `page` to OP-TEE (DEN0077
/// v1.2 §10.11: 48-byte header, one 32-byte endpoint memory access descriptor at 48, the
/// composite at 80, one constituent at 96) and returns its length. `attributes`: the memory
/// region attributes (0 for a LEND to one borrower, which OP-TEE requires).
fn write_descriptor(page: u64, attributes: u32) -> u64 {
    let words: [(usize, u32); 12] = [
        (0, attributes << 16), // sender 0 (the host), attributes
        (4, 0),                // flags
        (8, 0),                // handle (the SPMC allocates it)
        (12, 0),
        (24, 32),                     // endpoint memory access descriptor size
        (28, 1),                      // endpoint count
        (32, 48),                     // offset of the first endpoint descriptor
        (48, OPTEE as u32 | 2 << 16), // OP-TEE, read-write
        (52, 80),                     // composite offset
        (80, 1),                      // total page count
        (84, 1),                      // address range count
        (104, 1),                     // the constituent's page count
    ];
    for (offset, value) in words {
        TX.write32(offset, value);
    }
    TX.write32(96, page as u32);
    TX.write32(100, (page >> 32) as u32);
    112
}

/// Whether the command line asks for the bench workload (a `bench` word in bootargs).
pub fn requested(fdt: &fdt::Fdt<'_>) -> bool {
    fdt.chosen()
        .bootargs()
        .is_some_and(|args| args.split_ascii_whitespace().any(|w| w == "bench"))
}

/// A call with x0..x(n-1) = `vals`, the rest zero.
fn call(vals: &[u64]) -> [u64; 18] {
    let mut r = [0; 18];
    r[..vals.len()].copy_from_slice(vals);
    ffa_call::call(Conduit::Smc, &r)
}

/// Runs the workload and powers off.
pub fn run() -> ! {
    println!("PAYLOAD-BENCH start rounds={ROUNDS}");
    let mut calls = 0u32;
    let mut unexpected = 0u32;
    let mut check = |what: &str, ok: bool, x0: u64| {
        calls += 1;
        if !ok {
            unexpected += 1;
            if unexpected <= 8 {
                println!("PAYLOAD-BENCH unexpected {what}: x0={x0:#x}");
            }
        }
    };

    let v = call(&[FFA_VERSION, 0x1_0002]);
    check("FFA_VERSION", v[0] == 0x1_0002, v[0]);
    // One vCPU's bitmap; DENIED on a second create is fine too.
    let r = call(&[BITMAP_CREATE, 0, 1]);
    check(
        "BITMAP_CREATE",
        r[0] == FFA_SUCCESS_32 || r[0] == FFA_ERROR,
        r[0],
    );

    let r = call(&[RXTX_MAP_64, TX.addr(), RX.addr(), 1]);
    check("RXTX_MAP_64", r[0] == FFA_SUCCESS_32, r[0]);

    for _ in 0..ROUNDS {
        // Receiver 0 (the host), vCPU 0; SP and SPM framework bitmaps.
        let r = call(&[NOTIFICATION_GET, 0, 0b101]);
        check(
            "NOTIFICATION_GET",
            r[0] == FFA_SUCCESS_32 || r[0] == FFA_ERROR,
            r[0],
        );
        let r = call(&[FFA_FEATURES, DIRECT_REQ_32]);
        check("FFA_FEATURES", r[0] == FFA_SUCCESS_32, r[0]);
        let r = call(&[FFA_ID_GET]);
        check("FFA_ID_GET", r[0] == FFA_SUCCESS_32 && r[2] == 0, r[0]);
        // Sender 0 (the host) to OP-TEE; w3 = 0, OP-TEE's "get API version".
        let r = call(&[DIRECT_REQ_32, OPTEE]);
        check("DIRECT_REQ_32", r[0] == DIRECT_RESP_32, r[0]);
        let r = call(&[DIRECT_REQ_64, OPTEE]);
        check("DIRECT_REQ_64", r[0] != u64::MAX, r[0]);
        // Sender 1, not the host: rejected at EL2.
        let r = call(&[NOTIFICATION_SET, 1 << 16, 0, 1]);
        check(
            "rejected NOTIFICATION_SET",
            r[0] == FFA_ERROR && r[2] == INVALID_PARAMETERS,
            r[0],
        );
        let r = call(&[PSCI_VERSION]);
        check("PSCI_VERSION", r[0] >> 16 == 1, r[0]);
        let r = call(&[SMCCC_VERSION]);
        check("SMCCC_VERSION", r[0] >> 16 == 1, r[0]);
        memory_round(&mut check);
    }
    let r = call(&[RXTX_UNMAP]);
    check("RXTX_UNMAP", r[0] == FFA_SUCCESS_32, r[0]);
    println!("PAYLOAD-BENCH rounds={ROUNDS} calls={calls} unexpected={unexpected}");
    crate::report::finish()
}

/// One round of the memory path (the mailbox is mapped): SHARE + RECLAIM, LEND + one load
/// from the lent page (an injected abort, counted as a call) + RECLAIM, RXTX_UNMAP + MAP.
fn memory_round(check: &mut impl FnMut(&str, bool, u64)) {
    let page = MEMORY.addr();
    let handle = |r: &[u64; 18]| [r[2] & 0xFFFF_FFFF, r[3] & 0xFFFF_FFFF];
    // Normal memory, inner shareable, write-back (v1.1 encoding).
    let length = write_descriptor(page, 0x2F);
    let r = call(&[MEM_SHARE_64, length, length]);
    check("MEM_SHARE_64", r[0] == FFA_SUCCESS_32, r[0]);
    if r[0] == FFA_SUCCESS_32 {
        let [lo, hi] = handle(&r);
        let r = call(&[MEM_RECLAIM, lo, hi]);
        check("MEM_RECLAIM after SHARE", r[0] == FFA_SUCCESS_32, r[0]);
    }
    let length = write_descriptor(page, 0);
    let r = call(&[MEM_LEND_64, length, length]);
    check("MEM_LEND_64", r[0] == FFA_SUCCESS_32, r[0]);
    if r[0] == FFA_SUCCESS_32 {
        let [lo, hi] = handle(&r);
        // SAFETY: the handler is armed for a data abort and skips the load.
        let (_, seen) = run_probe(ProbeKind::Data, || unsafe { crate::arch::load(page) });
        check(
            "load from the lent page",
            seen.is_some(),
            seen.map_or(0, |s| s.esr),
        );
        let r = call(&[MEM_RECLAIM, lo, hi]);
        check("MEM_RECLAIM after LEND", r[0] == FFA_SUCCESS_32, r[0]);
    }
    let r = call(&[RXTX_UNMAP]);
    check("RXTX_UNMAP", r[0] == FFA_SUCCESS_32, r[0]);
    let r = call(&[RXTX_MAP_64, TX.addr(), RX.addr(), 1]);
    check("RXTX_MAP_64", r[0] == FFA_SUCCESS_32, r[0]);
}
