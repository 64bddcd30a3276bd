//! The numbers of the Arm Firmware Framework for A-profile (FF-A, DEN0077 v1.2) that several
//! parts of the project need: function IDs, status codes and feature IDs. Nothing else: no
//! register layouts and no policy. The hypervisor's ABI table, its tests, the fuzz targets,
//! the EL1 test payload (an independent oracle of the proxy's behaviour: it shares these
//! names with the hypervisor, never its layouts) and `ci/bench.sh` all take the numbers from
//! here, and one test checks them against the spec's table.
//!
//! Naming: the spec's names without `FFA_`. A function with both an SMC32 and an SMC64 ID in
//! v1.2 has two constants, `_32` (`0x8400_00nn`) and `_64` (`0xC400_00nn`); a function with
//! one convention has one constant without a suffix.

#![no_std]
#![forbid(unsafe_code)]

/// Function IDs (DEN0077 v1.2, "Function ID summary"). Bit 30 selects SMC64; the function
/// number is bits 7..0.
pub mod fid {
    /// The bit that turns an SMC32 function ID into its SMC64 one (SMCCC).
    pub const SMC64: u32 = 0x4000_0000;

    /// FFA_ERROR: the error return of every ABI (status in `w2`).
    pub const ERROR: u32 = 0x8400_0060;
    /// FFA_SUCCESS: the success return, SMC32.
    pub const SUCCESS_32: u32 = 0x8400_0061;
    /// FFA_SUCCESS: the success return, SMC64.
    pub const SUCCESS_64: u32 = 0xC400_0061;
    /// FFA_INTERRUPT: an SP was preempted by an interrupt.
    pub const INTERRUPT: u32 = 0x8400_0062;
    /// FFA_VERSION.
    pub const VERSION: u32 = 0x8400_0063;
    /// FFA_FEATURES.
    pub const FEATURES: u32 = 0x8400_0064;
    /// FFA_RX_RELEASE.
    pub const RX_RELEASE: u32 = 0x8400_0065;
    /// FFA_RXTX_MAP, SMC32.
    pub const RXTX_MAP_32: u32 = 0x8400_0066;
    /// FFA_RXTX_MAP, SMC64.
    pub const RXTX_MAP_64: u32 = 0xC400_0066;
    /// FFA_RXTX_UNMAP.
    pub const RXTX_UNMAP: u32 = 0x8400_0067;
    /// FFA_PARTITION_INFO_GET.
    pub const PARTITION_INFO_GET: u32 = 0x8400_0068;
    /// FFA_ID_GET.
    pub const ID_GET: u32 = 0x8400_0069;
    /// FFA_MSG_POLL (v1.0 only).
    pub const MSG_POLL: u32 = 0x8400_006A;
    /// FFA_MSG_WAIT.
    pub const MSG_WAIT: u32 = 0x8400_006B;
    /// FFA_YIELD.
    pub const YIELD: u32 = 0x8400_006C;
    /// FFA_RUN.
    pub const RUN: u32 = 0x8400_006D;
    /// FFA_MSG_SEND (v1.0 only).
    pub const MSG_SEND: u32 = 0x8400_006E;
    /// FFA_MSG_SEND_DIRECT_REQ, SMC32.
    pub const MSG_SEND_DIRECT_REQ_32: u32 = 0x8400_006F;
    /// FFA_MSG_SEND_DIRECT_REQ, SMC64.
    pub const MSG_SEND_DIRECT_REQ_64: u32 = 0xC400_006F;
    /// FFA_MSG_SEND_DIRECT_RESP, SMC32.
    pub const MSG_SEND_DIRECT_RESP_32: u32 = 0x8400_0070;
    /// FFA_MSG_SEND_DIRECT_RESP, SMC64.
    pub const MSG_SEND_DIRECT_RESP_64: u32 = 0xC400_0070;
    /// FFA_MEM_DONATE, SMC32.
    pub const MEM_DONATE_32: u32 = 0x8400_0071;
    /// FFA_MEM_DONATE, SMC64.
    pub const MEM_DONATE_64: u32 = 0xC400_0071;
    /// FFA_MEM_LEND, SMC32.
    pub const MEM_LEND_32: u32 = 0x8400_0072;
    /// FFA_MEM_LEND, SMC64.
    pub const MEM_LEND_64: u32 = 0xC400_0072;
    /// FFA_MEM_SHARE, SMC32.
    pub const MEM_SHARE_32: u32 = 0x8400_0073;
    /// FFA_MEM_SHARE, SMC64.
    pub const MEM_SHARE_64: u32 = 0xC400_0073;
    /// FFA_MEM_RETRIEVE_REQ, SMC32.
    pub const MEM_RETRIEVE_REQ_32: u32 = 0x8400_0074;
    /// FFA_MEM_RETRIEVE_REQ, SMC64.
    pub const MEM_RETRIEVE_REQ_64: u32 = 0xC400_0074;
    /// FFA_MEM_RETRIEVE_RESP.
    pub const MEM_RETRIEVE_RESP: u32 = 0x8400_0075;
    /// FFA_MEM_RELINQUISH.
    pub const MEM_RELINQUISH: u32 = 0x8400_0076;
    /// FFA_MEM_RECLAIM.
    pub const MEM_RECLAIM: u32 = 0x8400_0077;
    /// FFA_MEM_OP_PAUSE.
    pub const MEM_OP_PAUSE: u32 = 0x8400_0078;
    /// FFA_MEM_OP_RESUME.
    pub const MEM_OP_RESUME: u32 = 0x8400_0079;
    /// FFA_MEM_FRAG_RX.
    pub const MEM_FRAG_RX: u32 = 0x8400_007A;
    /// FFA_MEM_FRAG_TX.
    pub const MEM_FRAG_TX: u32 = 0x8400_007B;
    /// FFA_NORMAL_WORLD_RESUME.
    pub const NORMAL_WORLD_RESUME: u32 = 0x8400_007C;
    /// FFA_NOTIFICATION_BITMAP_CREATE (v1.1).
    pub const NOTIFICATION_BITMAP_CREATE: u32 = 0x8400_007D;
    /// FFA_NOTIFICATION_BITMAP_DESTROY (v1.1).
    pub const NOTIFICATION_BITMAP_DESTROY: u32 = 0x8400_007E;
    /// FFA_NOTIFICATION_BIND (v1.1).
    pub const NOTIFICATION_BIND: u32 = 0x8400_007F;
    /// FFA_NOTIFICATION_UNBIND (v1.1).
    pub const NOTIFICATION_UNBIND: u32 = 0x8400_0080;
    /// FFA_NOTIFICATION_SET (v1.1).
    pub const NOTIFICATION_SET: u32 = 0x8400_0081;
    /// FFA_NOTIFICATION_GET (v1.1).
    pub const NOTIFICATION_GET: u32 = 0x8400_0082;
    /// FFA_NOTIFICATION_INFO_GET (v1.1), SMC32.
    pub const NOTIFICATION_INFO_GET_32: u32 = 0x8400_0083;
    /// FFA_NOTIFICATION_INFO_GET (v1.1), SMC64.
    pub const NOTIFICATION_INFO_GET_64: u32 = 0xC400_0083;
    /// FFA_RX_ACQUIRE (v1.1).
    pub const RX_ACQUIRE: u32 = 0x8400_0084;
    /// FFA_SPM_ID_GET (v1.1).
    pub const SPM_ID_GET: u32 = 0x8400_0085;
    /// FFA_MSG_SEND2 (v1.1).
    pub const MSG_SEND2: u32 = 0x8400_0086;
    /// FFA_SECONDARY_EP_REGISTER (v1.1), SMC32.
    pub const SECONDARY_EP_REGISTER_32: u32 = 0x8400_0087;
    /// FFA_SECONDARY_EP_REGISTER (v1.1), SMC64.
    pub const SECONDARY_EP_REGISTER_64: u32 = 0xC400_0087;
    /// FFA_MEM_PERM_GET (v1.1), SMC32.
    pub const MEM_PERM_GET_32: u32 = 0x8400_0088;
    /// FFA_MEM_PERM_GET (v1.1), SMC64.
    pub const MEM_PERM_GET_64: u32 = 0xC400_0088;
    /// FFA_MEM_PERM_SET (v1.1), SMC32.
    pub const MEM_PERM_SET_32: u32 = 0x8400_0089;
    /// FFA_MEM_PERM_SET (v1.1), SMC64.
    pub const MEM_PERM_SET_64: u32 = 0xC400_0089;
    /// FFA_CONSOLE_LOG (v1.2), SMC32.
    pub const CONSOLE_LOG_32: u32 = 0x8400_008A;
    /// FFA_CONSOLE_LOG (v1.2), SMC64.
    pub const CONSOLE_LOG_64: u32 = 0xC400_008A;
    /// FFA_PARTITION_INFO_GET_REGS (v1.2).
    pub const PARTITION_INFO_GET_REGS: u32 = 0xC400_008B;
    /// FFA_EL3_INTR_HANDLE (v1.2).
    pub const EL3_INTR_HANDLE: u32 = 0x8400_008C;
    /// FFA_MSG_SEND_DIRECT_REQ2 (v1.2).
    pub const MSG_SEND_DIRECT_REQ2: u32 = 0xC400_008D;
    /// FFA_MSG_SEND_DIRECT_RESP2 (v1.2).
    pub const MSG_SEND_DIRECT_RESP2: u32 = 0xC400_008E;
}

/// Every function ID of [`fid`] with the spec's name, in function-number order.
pub const FUNCTIONS: &[(&str, u32)] = &[
    ("FFA_ERROR", fid::ERROR),
    ("FFA_SUCCESS_32", fid::SUCCESS_32),
    ("FFA_SUCCESS_64", fid::SUCCESS_64),
    ("FFA_INTERRUPT", fid::INTERRUPT),
    ("FFA_VERSION", fid::VERSION),
    ("FFA_FEATURES", fid::FEATURES),
    ("FFA_RX_RELEASE", fid::RX_RELEASE),
    ("FFA_RXTX_MAP_32", fid::RXTX_MAP_32),
    ("FFA_RXTX_MAP_64", fid::RXTX_MAP_64),
    ("FFA_RXTX_UNMAP", fid::RXTX_UNMAP),
    ("FFA_PARTITION_INFO_GET", fid::PARTITION_INFO_GET),
    ("FFA_ID_GET", fid::ID_GET),
    ("FFA_MSG_POLL", fid::MSG_POLL),
    ("FFA_MSG_WAIT", fid::MSG_WAIT),
    ("FFA_YIELD", fid::YIELD),
    ("FFA_RUN", fid::RUN),
    ("FFA_MSG_SEND", fid::MSG_SEND),
    ("FFA_MSG_SEND_DIRECT_REQ_32", fid::MSG_SEND_DIRECT_REQ_32),
    ("FFA_MSG_SEND_DIRECT_REQ_64", fid::MSG_SEND_DIRECT_REQ_64),
    ("FFA_MSG_SEND_DIRECT_RESP_32", fid::MSG_SEND_DIRECT_RESP_32),
    ("FFA_MSG_SEND_DIRECT_RESP_64", fid::MSG_SEND_DIRECT_RESP_64),
    ("FFA_MEM_DONATE_32", fid::MEM_DONATE_32),
    ("FFA_MEM_DONATE_64", fid::MEM_DONATE_64),
    ("FFA_MEM_LEND_32", fid::MEM_LEND_32),
    ("FFA_MEM_LEND_64", fid::MEM_LEND_64),
    ("FFA_MEM_SHARE_32", fid::MEM_SHARE_32),
    ("FFA_MEM_SHARE_64", fid::MEM_SHARE_64),
    ("FFA_MEM_RETRIEVE_REQ_32", fid::MEM_RETRIEVE_REQ_32),
    ("FFA_MEM_RETRIEVE_REQ_64", fid::MEM_RETRIEVE_REQ_64),
    ("FFA_MEM_RETRIEVE_RESP", fid::MEM_RETRIEVE_RESP),
    ("FFA_MEM_RELINQUISH", fid::MEM_RELINQUISH),
    ("FFA_MEM_RECLAIM", fid::MEM_RECLAIM),
    ("FFA_MEM_OP_PAUSE", fid::MEM_OP_PAUSE),
    ("FFA_MEM_OP_RESUME", fid::MEM_OP_RESUME),
    ("FFA_MEM_FRAG_RX", fid::MEM_FRAG_RX),
    ("FFA_MEM_FRAG_TX", fid::MEM_FRAG_TX),
    ("FFA_NORMAL_WORLD_RESUME", fid::NORMAL_WORLD_RESUME),
    (
        "FFA_NOTIFICATION_BITMAP_CREATE",
        fid::NOTIFICATION_BITMAP_CREATE,
    ),
    (
        "FFA_NOTIFICATION_BITMAP_DESTROY",
        fid::NOTIFICATION_BITMAP_DESTROY,
    ),
    ("FFA_NOTIFICATION_BIND", fid::NOTIFICATION_BIND),
    ("FFA_NOTIFICATION_UNBIND", fid::NOTIFICATION_UNBIND),
    ("FFA_NOTIFICATION_SET", fid::NOTIFICATION_SET),
    ("FFA_NOTIFICATION_GET", fid::NOTIFICATION_GET),
    (
        "FFA_NOTIFICATION_INFO_GET_32",
        fid::NOTIFICATION_INFO_GET_32,
    ),
    (
        "FFA_NOTIFICATION_INFO_GET_64",
        fid::NOTIFICATION_INFO_GET_64,
    ),
    ("FFA_RX_ACQUIRE", fid::RX_ACQUIRE),
    ("FFA_SPM_ID_GET", fid::SPM_ID_GET),
    ("FFA_MSG_SEND2", fid::MSG_SEND2),
    (
        "FFA_SECONDARY_EP_REGISTER_32",
        fid::SECONDARY_EP_REGISTER_32,
    ),
    (
        "FFA_SECONDARY_EP_REGISTER_64",
        fid::SECONDARY_EP_REGISTER_64,
    ),
    ("FFA_MEM_PERM_GET_32", fid::MEM_PERM_GET_32),
    ("FFA_MEM_PERM_GET_64", fid::MEM_PERM_GET_64),
    ("FFA_MEM_PERM_SET_32", fid::MEM_PERM_SET_32),
    ("FFA_MEM_PERM_SET_64", fid::MEM_PERM_SET_64),
    ("FFA_CONSOLE_LOG_32", fid::CONSOLE_LOG_32),
    ("FFA_CONSOLE_LOG_64", fid::CONSOLE_LOG_64),
    ("FFA_PARTITION_INFO_GET_REGS", fid::PARTITION_INFO_GET_REGS),
    ("FFA_EL3_INTR_HANDLE", fid::EL3_INTR_HANDLE),
    ("FFA_MSG_SEND_DIRECT_REQ2", fid::MSG_SEND_DIRECT_REQ2),
    ("FFA_MSG_SEND_DIRECT_RESP2", fid::MSG_SEND_DIRECT_RESP2),
];

/// The spec's name of function ID `id` (`FFA_..._32`/`_64` where both conventions exist).
pub fn function_name(id: u32) -> Option<&'static str> {
    FUNCTIONS.iter().find(|f| f.1 == id).map(|f| f.0)
}

/// Status codes: the signed `w2` of `FFA_ERROR` (and `w0` of a failed `FFA_VERSION`).
pub mod status {
    /// NOT_SUPPORTED.
    pub const NOT_SUPPORTED: i32 = -1;
    /// INVALID_PARAMETERS.
    pub const INVALID_PARAMETERS: i32 = -2;
    /// NO_MEMORY.
    pub const NO_MEMORY: i32 = -3;
    /// BUSY.
    pub const BUSY: i32 = -4;
    /// INTERRUPTED.
    pub const INTERRUPTED: i32 = -5;
    /// DENIED.
    pub const DENIED: i32 = -6;
    /// RETRY.
    pub const RETRY: i32 = -7;
    /// ABORTED.
    pub const ABORTED: i32 = -8;
    /// NO_DATA.
    pub const NO_DATA: i32 = -9;
    /// NOT_READY (v1.2).
    pub const NOT_READY: i32 = -10;

    /// The spec's name of status `code`.
    pub const fn name(code: i32) -> Option<&'static str> {
        Some(match code {
            NOT_SUPPORTED => "NOT_SUPPORTED",
            INVALID_PARAMETERS => "INVALID_PARAMETERS",
            NO_MEMORY => "NO_MEMORY",
            BUSY => "BUSY",
            INTERRUPTED => "INTERRUPTED",
            DENIED => "DENIED",
            RETRY => "RETRY",
            ABORTED => "ABORTED",
            NO_DATA => "NO_DATA",
            NOT_READY => "NOT_READY",
            _ => return None,
        })
    }
}

/// FFA_FEATURES feature IDs (bit 31 clear in `w1`).
pub mod feature {
    /// Notification pending interrupt.
    pub const NPI: u32 = 1;
    /// Schedule receiver interrupt.
    pub const SRI: u32 = 2;
    /// Managed exit interrupt (a Secure-partition feature).
    pub const MEI: u32 = 3;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers typed once more from DEN0077 v1.2's function ID and status code tables.
    #[test]
    fn numbers_match_the_spec() {
        let functions: &[(&str, u32)] = &[
            ("FFA_ERROR", 0x84000060),
            ("FFA_SUCCESS_32", 0x84000061),
            ("FFA_SUCCESS_64", 0xC4000061),
            ("FFA_INTERRUPT", 0x84000062),
            ("FFA_VERSION", 0x84000063),
            ("FFA_FEATURES", 0x84000064),
            ("FFA_RX_RELEASE", 0x84000065),
            ("FFA_RXTX_MAP_32", 0x84000066),
            ("FFA_RXTX_MAP_64", 0xC4000066),
            ("FFA_RXTX_UNMAP", 0x84000067),
            ("FFA_PARTITION_INFO_GET", 0x84000068),
            ("FFA_ID_GET", 0x84000069),
            ("FFA_MSG_POLL", 0x8400006A),
            ("FFA_MSG_WAIT", 0x8400006B),
            ("FFA_YIELD", 0x8400006C),
            ("FFA_RUN", 0x8400006D),
            ("FFA_MSG_SEND", 0x8400006E),
            ("FFA_MSG_SEND_DIRECT_REQ_32", 0x8400006F),
            ("FFA_MSG_SEND_DIRECT_REQ_64", 0xC400006F),
            ("FFA_MSG_SEND_DIRECT_RESP_32", 0x84000070),
            ("FFA_MSG_SEND_DIRECT_RESP_64", 0xC4000070),
            ("FFA_MEM_DONATE_32", 0x84000071),
            ("FFA_MEM_DONATE_64", 0xC4000071),
            ("FFA_MEM_LEND_32", 0x84000072),
            ("FFA_MEM_LEND_64", 0xC4000072),
            ("FFA_MEM_SHARE_32", 0x84000073),
            ("FFA_MEM_SHARE_64", 0xC4000073),
            ("FFA_MEM_RETRIEVE_REQ_32", 0x84000074),
            ("FFA_MEM_RETRIEVE_REQ_64", 0xC4000074),
            ("FFA_MEM_RETRIEVE_RESP", 0x84000075),
            ("FFA_MEM_RELINQUISH", 0x84000076),
            ("FFA_MEM_RECLAIM", 0x84000077),
            ("FFA_MEM_OP_PAUSE", 0x84000078),
            ("FFA_MEM_OP_RESUME", 0x84000079),
            ("FFA_MEM_FRAG_RX", 0x8400007A),
            ("FFA_MEM_FRAG_TX", 0x8400007B),
            ("FFA_NORMAL_WORLD_RESUME", 0x8400007C),
            ("FFA_NOTIFICATION_BITMAP_CREATE", 0x8400007D),
            ("FFA_NOTIFICATION_BITMAP_DESTROY", 0x8400007E),
            ("FFA_NOTIFICATION_BIND", 0x8400007F),
            ("FFA_NOTIFICATION_UNBIND", 0x84000080),
            ("FFA_NOTIFICATION_SET", 0x84000081),
            ("FFA_NOTIFICATION_GET", 0x84000082),
            ("FFA_NOTIFICATION_INFO_GET_32", 0x84000083),
            ("FFA_NOTIFICATION_INFO_GET_64", 0xC4000083),
            ("FFA_RX_ACQUIRE", 0x84000084),
            ("FFA_SPM_ID_GET", 0x84000085),
            ("FFA_MSG_SEND2", 0x84000086),
            ("FFA_SECONDARY_EP_REGISTER_32", 0x84000087),
            ("FFA_SECONDARY_EP_REGISTER_64", 0xC4000087),
            ("FFA_MEM_PERM_GET_32", 0x84000088),
            ("FFA_MEM_PERM_GET_64", 0xC4000088),
            ("FFA_MEM_PERM_SET_32", 0x84000089),
            ("FFA_MEM_PERM_SET_64", 0xC4000089),
            ("FFA_CONSOLE_LOG_32", 0x8400008A),
            ("FFA_CONSOLE_LOG_64", 0xC400008A),
            ("FFA_PARTITION_INFO_GET_REGS", 0xC400008B),
            ("FFA_EL3_INTR_HANDLE", 0x8400008C),
            ("FFA_MSG_SEND_DIRECT_REQ2", 0xC400008D),
            ("FFA_MSG_SEND_DIRECT_RESP2", 0xC400008E),
        ];
        assert_eq!(FUNCTIONS, functions);
        let statuses = [
            (status::NOT_SUPPORTED, -1, "NOT_SUPPORTED"),
            (status::INVALID_PARAMETERS, -2, "INVALID_PARAMETERS"),
            (status::NO_MEMORY, -3, "NO_MEMORY"),
            (status::BUSY, -4, "BUSY"),
            (status::INTERRUPTED, -5, "INTERRUPTED"),
            (status::DENIED, -6, "DENIED"),
            (status::RETRY, -7, "RETRY"),
            (status::ABORTED, -8, "ABORTED"),
            (status::NO_DATA, -9, "NO_DATA"),
            (status::NOT_READY, -10, "NOT_READY"),
        ];
        for (constant, code, name) in statuses {
            assert_eq!((constant, status::name(code)), (code, Some(name)));
        }
        assert_eq!(status::name(0), None);
        assert_eq!((feature::NPI, feature::SRI, feature::MEI), (1, 2, 3));
        assert_eq!(fid::SMC64, fid::SUCCESS_64 - fid::SUCCESS_32);
    }

    /// `ci/bench.sh` reads the names of its trap table from this file's `pub const NAME: u32 =
    /// 0x....;` lines (with sed, no build): they must stay in that form, one per line.
    #[test]
    fn bench_script_can_read_the_function_ids() {
        let source = include_str!("lib.rs");
        let mut read = [("", 0u32); 64];
        let mut n = 0;
        for line in source.lines() {
            let Some(rest) = line.trim().strip_prefix("pub const ") else {
                continue;
            };
            let Some((name, value)) = rest.split_once(": u32 = 0x") else {
                continue;
            };
            let Some(hex) = value.strip_suffix(';') else {
                continue;
            };
            let id = u32::from_str_radix(&hex.replace('_', ""), 16).unwrap();
            if id & 0x8000_0000 != 0 {
                read[n] = (name, id);
                n += 1;
            }
        }
        assert_eq!(n, FUNCTIONS.len());
        for ((name, id), (full, fid)) in read[..n].iter().zip(FUNCTIONS) {
            assert_eq!((&full[4..], fid), (*name, id));
        }
        let bench = include_str!("../../../ci/bench.sh");
        assert!(bench.contains("lib/ffa-spec/src/lib.rs"));
    }
}
