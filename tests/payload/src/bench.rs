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

use ::ffa_spec::{fid, status};

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
const PSCI_VERSION: u64 = 0x8400_0000;
const SMCCC_VERSION: u64 = 0x8000_0000;
/// OP-TEE's FF-A endpoint ID on this stack.
const OPTEE: u64 = 0x8001;
/// FFA_ERROR status INVALID_PARAMETERS as w2.
const INVALID_PARAMETERS: u64 = status::INVALID_PARAMETERS as u32 as u64;

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
