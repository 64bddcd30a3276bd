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
//!    `PSCI_VERSION` and `SMCCC_VERSION`;
//! 3. a line `PAYLOAD-BENCH rounds=<n> calls=<m> unexpected=<k>` (a call answered other than
//!    expected: the bench says so rather than measure a different path), then power-off.
//!
//! Its own file and one switch in `main.rs`, so that it stays apart from the cases.

use core::arch::asm;

/// Rounds of the loop; every call ID in it is made this many times.
pub const ROUNDS: u32 = 100;

const FFA_ERROR: u64 = 0x8400_0060;
const FFA_SUCCESS_32: u64 = 0x8400_0061;
const FFA_VERSION: u64 = 0x8400_0063;
const FFA_FEATURES: u64 = 0x8400_0064;
const FFA_ID_GET: u64 = 0x8400_0069;
const DIRECT_REQ_32: u64 = 0x8400_006F;
const DIRECT_REQ_64: u64 = 0xC400_006F;
const DIRECT_RESP_32: u64 = 0x8400_0070;
const BITMAP_CREATE: u64 = 0x8400_007D;
const NOTIFICATION_SET: u64 = 0x8400_0081;
const NOTIFICATION_GET: u64 = 0x8400_0082;
const PSCI_VERSION: u64 = 0x8400_0000;
const SMCCC_VERSION: u64 = 0x8000_0000;
/// OP-TEE's FF-A endpoint ID on this stack.
const OPTEE: u64 = 0x8001;
/// FFA_ERROR status INVALID_PARAMETERS as w2.
const INVALID_PARAMETERS: u64 = 0xFFFF_FFFE;

/// Whether the command line asks for the bench workload (a `bench` word in bootargs).
pub fn requested(fdt: &fdt::Fdt<'_>) -> bool {
    fdt.chosen()
        .bootargs()
        .is_some_and(|args| args.split_ascii_whitespace().any(|w| w == "bench"))
}

/// `smc #0` with x0..x17 = `r` (SMCCC v1.2); returns x0..x17 as the callee left them.
fn smc(r: [u64; 18]) -> [u64; 18] {
    let [
        mut x0,
        mut x1,
        mut x2,
        mut x3,
        mut x4,
        mut x5,
        mut x6,
        mut x7,
        mut x8,
        mut x9,
        mut x10,
        mut x11,
        mut x12,
        mut x13,
        mut x14,
        mut x15,
        mut x16,
        mut x17,
    ] = r;
    // SAFETY: an SMC to the hypervisor (and through it the firmware), which may change
    // x0..x17 (SMCCC v1.2) and preserves everything else, as the operands say.
    unsafe {
        asm!(
            "smc #0",
            inout("x0") x0, inout("x1") x1, inout("x2") x2, inout("x3") x3,
            inout("x4") x4, inout("x5") x5, inout("x6") x6, inout("x7") x7,
            inout("x8") x8, inout("x9") x9, inout("x10") x10, inout("x11") x11,
            inout("x12") x12, inout("x13") x13, inout("x14") x14, inout("x15") x15,
            inout("x16") x16, inout("x17") x17,
            options(nostack)
        );
    }
    [
        x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15, x16, x17,
    ]
}

/// A call with x0..x(n-1) = `vals`, the rest zero.
fn call(vals: &[u64]) -> [u64; 18] {
    let mut r = [0; 18];
    r[..vals.len()].copy_from_slice(vals);
    smc(r)
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
    }
    println!("PAYLOAD-BENCH rounds={ROUNDS} calls={calls} unexpected={unexpected}");
    crate::report::finish()
}
