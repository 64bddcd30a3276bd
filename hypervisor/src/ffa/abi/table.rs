//! The FF-A ABI table: one row per function number the proxy knows.

use super::types::*;

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per table column, so that each call site reads as a table row"
)]
#[cfg_attr(target_os = "none", allow(unused_variables))]
const fn row(
    name: &'static str,
    number: u8,
    convs: Convs,
    since: Version,
    spec: &'static str,
    fields: &'static [Field],
    policy: Policy,
    replies: Replies,
    note: &'static str,
) -> Abi {
    Abi {
        name,
        number,
        convs,
        since,
        until: None,
        // The firmware never prints these (only the generated documentation does, on the
        // development host): keep the ~20 KB of text, and the fields, out of the image.
        #[cfg(not(target_os = "none"))]
        spec,
        fields,
        policy,
        replies,
        #[cfg(not(target_os = "none"))]
        note,
    }
}

use Convs::{Both, Smc32, Smc64};
use Version::{V1_0, V1_1, V1_2};

const MEM_XFER_FIELDS: &[Field] = &[
    val(1, 31, 0, "total length"),
    val(2, 31, 0, "fragment length"),
    refused(3, 63, 0, "buffer address"),
    refused(4, 31, 0, "page count"),
];

const MEM_LEND_NOTE: &str = "x3/w4 carry a separate buffer; MBZ when the TX buffer is used \
    (only TX-buffer transfers are accepted: pKVM; Linux sets use_txbuf). As FFA_MEM_SHARE \
    (same copy, validation and bounds), but the pages go Owned -> LentToSecure and leave the \
    host's stage 2 before the call is forwarded (break-before-make on the blocks the range \
    cuts, tlbi ipas2e1is + vmalle1is); a host access to them is a stage-2 fault the \
    hypervisor turns into a synchronous external abort at the host's EL1 vector. They are \
    mapped back only when the SPMC refuses the LEND or answers RECLAIM with SUCCESS (pKVM \
    treats LEND as SHARE and leaves the host access). A stage-2 change that fails: \
    NO_MEMORY, nothing forwarded.";

const DIRECT_FIELDS: &[Field] = &[
    caller(1, 31, 16, "sender endpoint ID"),
    val(1, 15, 0, "receiver endpoint ID"),
    refused(
        2,
        31,
        0,
        "flags (bit 31 framework message, [7:0] message type)",
    ),
    reg(3, "payload 0"),
    reg(4, "payload 1"),
    reg(5, "payload 2"),
    reg(6, "payload 3"),
    reg(7, "payload 4"),
];

const DIRECT2_FIELDS: &[Field] = &[
    caller(1, 31, 16, "sender endpoint ID"),
    val(1, 15, 0, "receiver endpoint ID"),
    reg(2, "receiver protocol UUID, low 64 bits"),
    reg(3, "receiver protocol UUID, high 64 bits"),
    reg(4, "payload 0"),
    reg(5, "payload 1"),
    reg(6, "payload 2"),
    reg(7, "payload 3"),
    reg(8, "payload 4").from(V1_2),
    reg(9, "payload 5").from(V1_2),
    reg(10, "payload 6").from(V1_2),
    reg(11, "payload 7").from(V1_2),
    reg(12, "payload 8").from(V1_2),
    reg(13, "payload 9").from(V1_2),
    reg(14, "payload 10").from(V1_2),
    reg(15, "payload 11").from(V1_2),
    reg(16, "payload 12").from(V1_2),
    reg(17, "payload 13").from(V1_2),
];

const BIND_IDS: [Field; 2] = [
    val(1, 31, 16, "sender endpoint ID (an SP)"),
    caller(1, 15, 0, "receiver endpoint ID"),
];

const HANDLE_FIELDS: [Field; 2] = [
    reg(1, "handle, low 32 bits"),
    reg(2, "handle, high 32 bits"),
];

/// The table, ordered by function number.
pub const TABLE: &[Abi] = &[
    row(
        "FFA_ERROR",
        0x60,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_ERROR (status reporting interfaces); CRATE, HF",
        &[reg(1, "target information"), reg(2, "error code")],
        Policy::Block,
        Replies::NONE,
        "A return interface: the SPMC answers with it; the host never sends it to the Secure \
         world. The SMC64 variant is v1.3 and unknown here.",
    ),
    row(
        "FFA_SUCCESS",
        0x61,
        Both,
        V1_0,
        "DEN0077 v1.2, FFA_SUCCESS (status reporting interfaces); CRATE",
        &[],
        Policy::Block,
        Replies::NONE,
        "A return interface; never sent by the host.",
    ),
    row(
        "FFA_INTERRUPT",
        0x62,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_INTERRUPT (CPU cycle management interfaces); CRATE, HF",
        &[reg(1, "target information"), reg(2, "interrupt ID")],
        Policy::Block,
        Replies::NONE,
        "Returned to the host when an SP is preempted; the host resumes it with FFA_RUN. The \
         host never sends it.",
    ),
    row(
        "FFA_VERSION",
        0x63,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_VERSION (setup and discovery interfaces); PKVM-1.2 do_ffa_version, \
         HF api_ffa_version, XEN",
        &[
            rsv(1, 31, 31, "bit 31 (MBZ)"),
            val(1, 30, 16, "major version"),
            val(1, 15, 0, "minor version"),
        ],
        Policy::Emulate(Handler::Version),
        Replies::NONE,
        "Emulated. Checked against this v1.0 schema at every version, because the caller's \
         version is what is being negotiated (x8-x17 are therefore not checked). A violation \
         answers NOT_SUPPORTED in w0: FFA_VERSION has no FFA_ERROR return. Negotiation rules \
         (§4.1 #3, #4) are in the Version section.",
    ),
    row(
        "FFA_FEATURES",
        0x64,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_FEATURES (setup and discovery interfaces); HF api_ffa_features, \
         PKVM-1.2, XEN, LNX-DRV",
        &[
            reg(1, "function ID or feature ID"),
            refused(2, 31, 0, "input properties").from(V1_1),
        ],
        Policy::Emulate(Handler::Features),
        Replies {
            kinds: Replies::ERROR | Replies::SUCCESS,
            success_regs: 0b1100,
        },
        "Answered from this table: NOT_SUPPORTED for blocked, unknown and not-yet-defined IDs \
         (both conventions), SUCCESS for emulated ones, forwarded for forwarded ones (reply: \
         w2/w3 interface properties). Feature IDs (bit 31 clear): bits [30:8] MBZ, checked \
         like every other field (INVALID_PARAMETERS; Hafnium answers NOT_SUPPORTED, the issue \
         asks for one rule); NPI (1) and SRI (2) forwarded from v1.1, anything else \
         NOT_SUPPORTED. w2 input properties: only MEM_RETRIEVE_REQ defines them and it is \
         blocked, so MBZ for every query (Xen does not check w2, Linux sends 0).",
    ),
    row(
        "FFA_RX_RELEASE",
        0x65,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_RX_RELEASE (setup and discovery interfaces); HF, EDK2 #12563, XEN",
        &[
            caller(1, 15, 0, "VM ID").from(V1_1),
            rsv(1, 31, 16, "bits [31:16]"),
        ],
        Policy::Emulate(Handler::RxRelease),
        Replies::success(0),
        "§4.1 #1: the ID is in w1[15:0] (HF, CRATE, XEN) and names the caller, the other half \
         is reserved, so w1 must be 0 in full (EDK2 #12563, HF at a virtual instance). \
         Emulated, never forwarded: a forwarded RX_RELEASE would release the hypervisor's RX \
         buffer at the SPMC, not the host's (T1, T10; pKVM's bug). The host's RX becomes free; \
         DENIED if no buffers are mapped or the host's RX is not full (Xen). The hypervisor \
         releases its own RX itself, right after copying out of it.",
    ),
    row(
        "FFA_RXTX_MAP",
        0x66,
        Both,
        V1_0,
        "DEN0077 v1.2, FFA_RXTX_MAP (setup and discovery interfaces); PKVM-1.2, XEN, CRATE",
        &[
            reg(1, "TX buffer address"),
            reg(2, "RX buffer address"),
            val(3, 5, 0, "page count (4 KiB units)"),
            rsv(3, 31, 6, "bits [31:6]"),
        ],
        Policy::Emulate(Handler::RxTxMap),
        Replies::success(0),
        "Emulated (T1): the host's buffers are recorded and pinned as SharedWithHyp; the SPMC \
         only ever sees the hypervisor's own pair, registered with FFA_RXTX_MAP_64 at the \
         host's first map. Both buffers must be one 4 KiB page (what FFA_FEATURES reports: \
         w2[1:0] = 0, and at v1.2 a maximum of 1 page in w2[31:16]), page-aligned, distinct, \
         Owned host RAM (not the carve-out, Secure memory, MMIO, a shared page or the other \
         buffer): else INVALID_PARAMETERS, or DENIED for a page in use or a second map \
         (pKVM, Xen). SMC32 is the same call with 32-bit addresses (Xen): it costs nothing, \
         the checks are the same, and the SPMC still gets only the hypervisor's SMC64 map.",
    ),
    row(
        "FFA_RXTX_UNMAP",
        0x67,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_RXTX_UNMAP (setup and discovery interfaces); HF, PKVM-1.2, XEN, \
         CRATE",
        &[
            caller(1, 31, 16, "endpoint ID"),
            rsv(1, 15, 0, "bits [15:0]"),
        ],
        Policy::Emulate(Handler::RxTxUnmap),
        Replies::success(0),
        "§4.1 #1: the ID is in w1[31:16] (HF, CRATE, XEN) and names the caller, the other half \
         is reserved, so w1 must be 0 in full (pKVM, EDK2). Emulated: the host's pages go back \
         to Owned; INVALID_PARAMETERS if none are mapped (pKVM). Allowed while the host's RX \
         is full (it gives up its own buffer; nothing in the Secure world refers to it). The \
         hypervisor's pair stays registered at the SPMC for its own use.",
    ),
    row(
        "FFA_PARTITION_INFO_GET",
        0x68,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_PARTITION_INFO_GET (setup and discovery interfaces); HF, XEN, \
         PKVM-1.2, LNX-DRV",
        &[
            reg(1, "UUID word 0"),
            reg(2, "UUID word 1"),
            reg(3, "UUID word 2"),
            reg(4, "UUID word 3"),
            val(5, 0, 0, "return count only").from(V1_1),
            rsv(5, 31, 1, "flags [31:1]"),
        ],
        Policy::Emulate(Handler::PartitionInfoGet),
        Replies::success(0b1100),
        "Count-only (v1.1+, w5 bit 0) touches no buffer and is forwarded as is. Otherwise the \
         SPMC writes the descriptors into the hypervisor's RX (T1); the proxy checks the \
         descriptor size (8 bytes at v1.0, 24 from v1.1) and that count x size fits 4 KiB \
         (else ABORTED), copies them into the host's RX, releases its own RX at the SPMC, and \
         keeps the host's RX full until the host's FFA_RX_RELEASE (T10). Errors: §4.1 #9 in \
         the Decisions. The list is passed on unchanged (§4.1 #7).",
    ),
    row(
        "FFA_ID_GET",
        0x69,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_ID_GET (setup and discovery interfaces); PKVM-ANDROID, XEN, \
         LNX-DRV",
        &[],
        Policy::Emulate(Handler::IdGet),
        Replies::NONE,
        "Emulated: SUCCESS with w2 = 0, the host's ID. The proxy checks at boot that the SPMC \
         also sees ID 0 (Proxy::probe), as pKVM's post-init does.",
    ),
    Abi {
        until: Some(V1_0),
        ..row(
            "FFA_MSG_POLL",
            0x6A,
            Smc32,
            V1_0,
            "DEN0077 v1.0, FFA_MSG_POLL (indirect messaging, removed in v1.1)",
            &[],
            Policy::Block,
            Replies::NONE,
            "v1.0 indirect messaging, removed in v1.1; the SPMC reads ID 0's mailbox (T12).",
        )
    },
    row(
        "FFA_MSG_WAIT",
        0x6B,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_MSG_WAIT (CPU cycle management interfaces); HF api_ffa_msg_wait",
        &[val(2, 0, 0, "retain RX buffer ownership").from(V1_2)],
        Policy::Block,
        Replies::NONE,
        "Only an SP waits for messages; the normal world never calls it. (SMC64 is v1.3.)",
    ),
    row(
        "FFA_YIELD",
        0x6C,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_YIELD (CPU cycle management interfaces); CRATE, HF",
        &[
            reg(2, "timeout, low 32 bits").from(V1_1),
            reg(3, "timeout, high 32 bits").from(V1_1),
        ],
        Policy::Block,
        Replies::NONE,
        "Sent by SPs; the host receives it as a reply and resumes the SP with FFA_RUN.",
    ),
    row(
        "FFA_RUN",
        0x6D,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_RUN (CPU cycle management interfaces); HF handler.c (x8-x17 MBZ \
         at v1.2), LNX-DRV",
        &[
            val(1, 31, 16, "target endpoint ID"),
            val(1, 15, 0, "target vCPU ID"),
        ],
        Policy::Forward,
        Replies {
            kinds: Replies::ERROR
                | Replies::SUCCESS
                | Replies::DIRECT_RESP
                | Replies::DIRECT_RESP2
                | Replies::INTERRUPT
                | Replies::YIELD
                | Replies::MSG_WAIT,
            success_regs: 0,
        },
        "Forwarded: how the host resumes an SP after FFA_INTERRUPT or FFA_YIELD (T17). w1 \
         names the target, not the caller, so it is not an ID check. The reply may be the \
         resumed direct response, hence DIRECT_RESP/RESP2 are accepted.",
    ),
    Abi {
        until: Some(V1_0),
        ..row(
            "FFA_MSG_SEND",
            0x6E,
            Smc32,
            V1_0,
            "DEN0077 v1.0, FFA_MSG_SEND (indirect messaging, removed in v1.1)",
            &[
                caller(1, 31, 16, "sender endpoint ID"),
                val(1, 15, 0, "receiver endpoint ID"),
                reg(3, "message size"),
                reg(4, "flags"),
            ],
            Policy::Block,
            Replies::NONE,
            "v1.0 indirect messaging, removed in v1.1; the SPMC reads ID 0's TX buffer (T12).",
        )
    },
    row(
        "FFA_MSG_SEND_DIRECT_REQ",
        0x6F,
        Both,
        V1_0,
        "DEN0077 v1.2, FFA_MSG_SEND_DIRECT_REQ (direct messaging interfaces); HF api.c, \
         PKVM-ANDROID, XEN, LNX-DRV",
        DIRECT_FIELDS,
        Policy::Forward,
        Replies {
            kinds: Replies::ERROR | Replies::DIRECT_RESP | Replies::INTERRUPT | Replies::YIELD,
            success_regs: 0,
        },
        "Sender must be the host (T17; OP-TEE trusts it). §4.1 #8: w2 MBZ (HF) rather than \
         forwarded unchecked (pKVM, Xen): partition messages define no flags, and framework \
         messages (VM created/destroyed, power management) belong to the hypervisor and the \
         SPMD, so the host may not send them. At v1.2, x8-x17 MBZ (HF); the arm-ffa crate \
         decodes x3-x17 as payload for SMC64, but FFA_MSG_SEND_DIRECT_REQ2 is the v1.2 \
         extended-payload ABI and Linux uses x3-x7 only.",
    ),
    row(
        "FFA_MSG_SEND_DIRECT_RESP",
        0x70,
        Both,
        V1_0,
        "DEN0077 v1.2, FFA_MSG_SEND_DIRECT_RESP (direct messaging interfaces); PKVM-1.2, HF",
        DIRECT_FIELDS,
        Policy::Block,
        Replies::NONE,
        "The host is never the target of a direct request, so it never responds (pKVM blocks \
         both conventions).",
    ),
    row(
        "FFA_MEM_DONATE",
        0x71,
        Both,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_DONATE (memory management interfaces); PKVM-1.2",
        MEM_XFER_FIELDS,
        Policy::Block,
        Replies::success(0b1100),
        "Blocked for good in pKVM: the host may not give pages away to the Secure world. \
         x3/w4 as for FFA_MEM_SHARE.",
    ),
    row(
        "FFA_MEM_LEND",
        0x72,
        Both,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_LEND (memory management interfaces); PKVM-1.2, XEN, LNX-DRV",
        MEM_XFER_FIELDS,
        Policy::Emulate(Handler::MemShare),
        Replies::success(0b1100),
        MEM_LEND_NOTE,
    ),
    row(
        "FFA_MEM_SHARE",
        0x73,
        Both,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_SHARE (memory management interfaces); PKVM-1.2, XEN, LNX-DRV",
        MEM_XFER_FIELDS,
        Policy::Emulate(Handler::MemShare),
        Replies::success(0b1100),
        "x3/w4 (a separate buffer) MBZ: only TX-buffer transfers (pKVM; Linux sets \
         use_txbuf). The fragment is copied from the host's TX into hypervisor memory, \
         validated there for the negotiated version (descriptor.rs), its pages claimed \
         Owned -> SharedWithSecure all or nothing, and the copy forwarded through the \
         hypervisor's TX. SUCCESS records handle -> pages; an error rolls the pages back. \
         A first fragment below the total length (FFA_MEM_FRAG_TX for the rest) must hold \
         the header, the receivers, the composite and whole constituents; the SPMC's \
         FRAG_RX goes back to the host. At most 8 384 bytes (512 constituents) and 256 live \
         transactions: NO_MEMORY beyond.",
    ),
    row(
        "FFA_MEM_RETRIEVE_REQ",
        0x74,
        Both,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_RETRIEVE_REQ (memory management interfaces); PKVM-1.2",
        MEM_XFER_FIELDS,
        Policy::Block,
        Replies::NONE,
        "The host never borrows Secure memory; the hypervisor issues it itself on reclaim \
         (pKVM).",
    ),
    row(
        "FFA_MEM_RETRIEVE_RESP",
        0x75,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_RETRIEVE_RESP (memory management interfaces)",
        &[reg(1, "total length"), reg(2, "fragment length")],
        Policy::Block,
        Replies::NONE,
        "A reply from the SPMC to a borrower; never sent by the host.",
    ),
    row(
        "FFA_MEM_RELINQUISH",
        0x76,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_RELINQUISH (memory management interfaces)",
        &[],
        Policy::Block,
        Replies::NONE,
        "Borrower side; the host never borrows.",
    ),
    row(
        "FFA_MEM_RECLAIM",
        0x77,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_RECLAIM (memory management interfaces); PKVM-1.2, LNX-DRV, \
         CRATE",
        &[
            HANDLE_FIELDS[0],
            HANDLE_FIELDS[1],
            val(3, 1, 0, "flags (zero memory, time slicing)"),
            rsv(3, 31, 2, "flags [31:2]"),
        ],
        Policy::Emulate(Handler::MemReclaim),
        Replies::success(0),
        "Forwarded only for a handle the proxy recorded for the host (else \
         INVALID_PARAMETERS, nothing forwarded); the pages go back to Owned only when the \
         SPMC answers SUCCESS, and they are the pages the proxy recorded, never what the host \
         claims.",
    ),
    row(
        "FFA_MEM_OP_PAUSE",
        0x78,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_OP_PAUSE (memory management interfaces); PKVM-1.2",
        &[HANDLE_FIELDS[0], HANDLE_FIELDS[1]],
        Policy::Block,
        Replies::NONE,
        "Blocked (pKVM): the proxy does not support time-sliced transactions.",
    ),
    row(
        "FFA_MEM_OP_RESUME",
        0x79,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_OP_RESUME (memory management interfaces); PKVM-1.2",
        &[HANDLE_FIELDS[0], HANDLE_FIELDS[1]],
        Policy::Block,
        Replies::NONE,
        "Blocked (pKVM): the proxy does not support time-sliced transactions.",
    ),
    row(
        "FFA_MEM_FRAG_RX",
        0x7A,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_FRAG_RX (memory management interfaces); HF, CRATE, PKVM-1.2",
        &[
            HANDLE_FIELDS[0],
            HANDLE_FIELDS[1],
            reg(3, "fragment offset"),
            caller(4, 31, 16, "sender endpoint ID (hypervisor-filled)"),
            rsv(4, 15, 0, "bits [15:0]"),
        ],
        Policy::Block,
        Replies::NONE,
        "Blocked (pKVM): only the hypervisor's own reclaim path reads fragments.",
    ),
    row(
        "FFA_MEM_FRAG_TX",
        0x7B,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_MEM_FRAG_TX (memory management interfaces); HF, CRATE, PKVM-1.2",
        &[
            HANDLE_FIELDS[0],
            HANDLE_FIELDS[1],
            reg(3, "fragment length"),
            caller(4, 31, 16, "sender endpoint ID (hypervisor-filled)"),
            rsv(4, 15, 0, "bits [15:0]"),
        ],
        Policy::Emulate(Handler::MemFragTx),
        Replies::NONE,
        "w4[31:16] is filled by a hypervisor for its VMs and MBZ from an endpoint (pKVM \
         forwards it unchecked; here it names the caller). The next fragment of the host's \
         one fragmented SHARE or LEND in progress (its handle, from the SPMC's FFA_MEM_FRAG_RX): \
         copied from the host's TX, whole constituents only, validated, its pages claimed, \
         forwarded through the hypervisor's TX; the SPMC's FRAG_RX (offset checked) or final \
         SUCCESS goes back to the host. A later fragment that is refused aborts the whole \
         transaction with FFA_MEM_RECLAIM (OP-TEE 4.10 cannot reclaim an incomplete \
         transaction: its pages then stay pinned, never the host's to reuse). At most 512 \
         constituents per transaction (NO_MEMORY beyond).",
    ),
    row(
        "FFA_NORMAL_WORLD_RESUME",
        0x7C,
        Smc32,
        V1_0,
        "DEN0077 v1.2, FFA_NORMAL_WORLD_RESUME (CPU cycle management interfaces); CRATE",
        &[],
        Policy::Block,
        Replies::NONE,
        "Secure-world only (an SP hands the CPU back after a secure interrupt).",
    ),
    row(
        "FFA_NOTIFICATION_BITMAP_CREATE",
        0x7D,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_NOTIFICATION_BITMAP_CREATE (notification interfaces); HF spmc, \
         CRATE, PKVM-NOTIF, LNX-DRV",
        &[
            caller(1, 15, 0, "VM ID"),
            rsv(1, 31, 16, "bits [31:16]"),
            reg(2, "vCPU count"),
        ],
        Policy::Forward,
        Replies::success(0),
        "The VM ID must be the host's own; w1[31:16] MBZ (Will Deacon's example; OP-TEE does \
         not check the upper half of x1). The Hafnium/OP-TEE SPMC accepts it only from the NS \
         physical instance, which the proxy is.",
    ),
    row(
        "FFA_NOTIFICATION_BITMAP_DESTROY",
        0x7E,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_NOTIFICATION_BITMAP_DESTROY (notification interfaces); HF, CRATE",
        &[caller(1, 15, 0, "VM ID"), rsv(1, 31, 16, "bits [31:16]")],
        Policy::Forward,
        Replies::success(0),
        "As BITMAP_CREATE; w2 MBZ (OP-TEE does not check it, so the proxy must).",
    ),
    row(
        "FFA_NOTIFICATION_BIND",
        0x7F,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_NOTIFICATION_BIND (notification interfaces); HF \
         api_ffa_notification_update_bindings, PKVM-NOTIF, LNX-DRV",
        &[
            secure(1, 31, 16, "sender endpoint ID (an SP)"),
            BIND_IDS[1],
            val(2, 0, 0, "per-vCPU notification flag"),
            rsv(2, 31, 1, "flags [31:1]"),
            reg(3, "notification bitmap, low 32 bits"),
            reg(4, "notification bitmap, high 32 bits"),
        ],
        Policy::Forward,
        Replies::success(0),
        "§4.1 #5: the per-vCPU flag is defined by the spec, so it is forwarded and the SPMC \
         decides (OP-TEE: DENIED, Hafnium: INVALID_PARAMETERS), as in pKVM-NOTIF; flags \
         [31:1] MBZ. The receiver is the caller. The sender (w1[31:16]) must be a Secure \
         endpoint (bit 15 set): OP-TEE 4.10 binds a normal-world sender, so the proxy refuses \
         it (INVALID_PARAMETERS; the field's kind, a must-be-one mask beside the MBZ masks).",
    ),
    row(
        "FFA_NOTIFICATION_UNBIND",
        0x80,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_NOTIFICATION_UNBIND (notification interfaces); HF, XEN, PKVM-NOTIF",
        &[
            BIND_IDS[0],
            BIND_IDS[1],
            rsv(2, 31, 0, "flags (MBZ for UNBIND)"),
            reg(3, "notification bitmap, low 32 bits"),
            reg(4, "notification bitmap, high 32 bits"),
        ],
        Policy::Forward,
        Replies::success(0),
        "w2 MBZ (HF forwards 0, pKVM-NOTIF and OP-TEE check it).",
    ),
    row(
        "FFA_NOTIFICATION_SET",
        0x81,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_NOTIFICATION_SET (notification interfaces); HF \
         api_ffa_notification_set, PKVM-NOTIF",
        &[
            caller(1, 31, 16, "sender endpoint ID"),
            secure(1, 15, 0, "receiver endpoint ID"),
            val(2, 0, 0, "per-vCPU notification flag"),
            refused(2, 1, 1, "delay schedule receiver interrupt"),
            rsv(2, 15, 2, "flags [15:2]"),
            Field::new(2, 31, 16, Kind::ValueIf { reg: 2, bit: 0 }, "vCPU ID"),
            reg(3, "notification bitmap, low 32 bits"),
            reg(4, "notification bitmap, high 32 bits"),
        ],
        Policy::Forward,
        Replies::success(0),
        "§4.1 #5: per-vCPU flag forwarded (SPMC decides); delay-SRI refused (invalid from the \
         normal world, HF); flags [15:2] MBZ; the vCPU ID must be 0 unless the per-vCPU flag \
         is set (HF, T4), which pKVM-NOTIF does not check. OP-TEE answers NOT_SUPPORTED to SET \
         from the normal world; the proxy still forwards it so a future SPMC can answer. The \
         receiver (w1[15:0]) must be a Secure endpoint (bit 15 set), as Hafnium requires from \
         the normal world (INVALID_PARAMETERS; the field's kind, a must-be-one mask).",
    ),
    row(
        "FFA_NOTIFICATION_GET",
        0x82,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_NOTIFICATION_GET (notification interfaces); HF, OPTEE #6518, \
         LNX-DRV, PKVM-NOTIF",
        &[
            val(1, 31, 16, "receiver vCPU ID"),
            caller(1, 15, 0, "receiver endpoint ID"),
            val(2, 0, 0, "SP notification bitmap flag"),
            refused(2, 1, 1, "VM notification bitmap flag"),
            val(2, 2, 2, "SPM framework bitmap flag"),
            refused(2, 3, 3, "hypervisor framework bitmap flag"),
            rsv(2, 31, 4, "flags [31:4]"),
        ],
        Policy::Forward,
        Replies::success(X2_X7),
        "The receiver is in w1[15:0] (OPTEE #6518). The VM and hypervisor bitmaps are \
         invalid from the normal world (HF SPMC; Linux sends 0x5). Reply: w2/w3 SP bitmap, \
         w4/w5 VM bitmap, w6 SPM bitmap, w7 hypervisor bitmap.",
    ),
    row(
        "FFA_NOTIFICATION_INFO_GET",
        0x83,
        Both,
        V1_1,
        "DEN0077 v1.2, FFA_NOTIFICATION_INFO_GET (notification interfaces); HF, XEN, LNX-DRV",
        &[],
        Policy::Forward,
        Replies::success(X2_X7),
        "§4.1 #6: both conventions are in the table and forwarded (T11: pKVM once blocked \
         only the SMC32 ID); an SPMC that implements only SMC64 (Hafnium) answers \
         NOT_SUPPORTED itself. No arguments: x1-x7 MBZ.",
    ),
    row(
        "FFA_RX_ACQUIRE",
        0x84,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_RX_ACQUIRE (setup and discovery interfaces); XEN, CRATE",
        &[caller(1, 15, 0, "VM ID"), rsv(1, 31, 16, "bits [31:16]")],
        Policy::Block,
        Replies::NONE,
        "Hypervisor-only (a hypervisor acquires a VM's RX buffer from the SPMC); §4.1 #1 as \
         RX_RELEASE.",
    ),
    row(
        "FFA_SPM_ID_GET",
        0x85,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_SPM_ID_GET (setup and discovery interfaces); HF, CRATE, PKVM-1.2",
        &[],
        Policy::Forward,
        Replies::success(0b100),
        "Forwarded (pKVM); reply w2[15:0] SPMC ID.",
    ),
    row(
        "FFA_MSG_SEND2",
        0x86,
        Smc32,
        V1_1,
        "DEN0077 v1.2, FFA_MSG_SEND2 (indirect messaging interfaces); HF api_ffa_msg_send2, \
         XEN, LNX-DRV",
        &[
            caller(1, 31, 16, "sender VM ID"),
            rsv(1, 15, 0, "bits [15:0]"),
            refused(2, 31, 0, "flags (SP only)"),
        ],
        Policy::Block,
        Replies::success(0),
        "Blocked (T12): the SPMC would read the ID-0 TX buffer, which is the hypervisor's. \
         Emulating it means copying and checking the message header (v1.1 and v1.2 layouts) \
         and the RX-full framework notification on the way back; no SP on this stack sends \
         or receives indirect messages, so it stays blocked until one does.",
    ),
    row(
        "FFA_SECONDARY_EP_REGISTER",
        0x87,
        Both,
        V1_1,
        "DEN0077 v1.2, FFA_SECONDARY_EP_REGISTER (setup and discovery interfaces); CRATE",
        &[reg(1, "entry point address")],
        Policy::Block,
        Replies::NONE,
        "Secure-world only (an SP registers its secondary entry point).",
    ),
    row(
        "FFA_MEM_PERM_GET",
        0x88,
        Both,
        V1_1,
        "DEN0077 v1.2, FFA_MEM_PERM_GET (memory management interfaces); CRATE",
        &[reg(1, "base address")],
        Policy::Block,
        Replies::NONE,
        "Secure-world only (S-EL0 partitions).",
    ),
    row(
        "FFA_MEM_PERM_SET",
        0x89,
        Both,
        V1_1,
        "DEN0077 v1.2, FFA_MEM_PERM_SET (memory management interfaces); CRATE",
        &[
            reg(1, "base address"),
            reg(2, "page count"),
            reg(3, "attributes"),
        ],
        Policy::Block,
        Replies::NONE,
        "Secure-world only (S-EL0 partitions).",
    ),
    row(
        "FFA_CONSOLE_LOG",
        0x8A,
        Both,
        V1_2,
        "DEN0077 v1.2, FFA_CONSOLE_LOG (setup and discovery interfaces); CRATE, PKVM-1.2",
        &[
            val(1, 7, 0, "character count"),
            reg(2, "characters"),
            reg(3, "characters"),
            reg(4, "characters"),
            reg(5, "characters"),
            reg(6, "characters"),
            reg(7, "characters"),
        ],
        Policy::Block,
        Replies::NONE,
        "Version: v1.2 (CRATE, and pKVM lists it among the optional v1.2 calls) rather than \
         v1.1 as the reference table's header says. A partition debug channel, not for the \
         host: blocked (pKVM blocks it; T11: both conventions).",
    ),
    row(
        "FFA_PARTITION_INFO_GET_REGS",
        0x8B,
        Smc64,
        V1_2,
        "DEN0077 v1.2, FFA_PARTITION_INFO_GET_REGS (setup and discovery interfaces); XEN, \
         LNX-DRV, CRATE",
        &[
            reg(1, "UUID, low 64 bits"),
            reg(2, "UUID, high 64 bits"),
            val(3, 15, 0, "start index"),
            val(3, 31, 16, "information tag (MBZ when start index is 0)"),
        ],
        Policy::Forward,
        Replies::success(0x3_FFFC),
        "Registers only, no buffer: forwarded after the checks (x3[63:32] and x4-x17 MBZ); the \
         SPMC applies the start index and tag rules (RETRY on a stale tag). Reply: x2 (sizes, \
         tag, indices) and x3-x17 (up to five 3-register descriptors). An SPMC without it \
         (OP-TEE 4.10) answers NOT_SUPPORTED, to FFA_FEATURES too, and Linux falls back to \
         FFA_PARTITION_INFO_GET.",
    ),
    row(
        "FFA_EL3_INTR_HANDLE",
        0x8C,
        Smc32,
        V1_2,
        "DEN0077 v1.2, FFA_EL3_INTR_HANDLE (CPU cycle management interfaces); CRATE",
        &[],
        Policy::Block,
        Replies::NONE,
        "Between the SPMC and the SPMD only.",
    ),
    row(
        "FFA_MSG_SEND_DIRECT_REQ2",
        0x8D,
        Smc64,
        V1_2,
        "DEN0077 v1.2, FFA_MSG_SEND_DIRECT_REQ2 (direct messaging interfaces); LNX-DRV, XEN, \
         PKVM-ANDROID, CRATE",
        DIRECT2_FIELDS,
        Policy::Forward,
        Replies {
            kinds: Replies::ERROR | Replies::DIRECT_RESP2 | Replies::INTERRUPT | Replies::YIELD,
            success_regs: 0,
        },
        "Forwarded from v1.2 with the sender checked (Android pKVM, Xen); mainline pKVM \
         blocks it as optional. The UUID is carried as two 64-bit halves.",
    ),
    row(
        "FFA_MSG_SEND_DIRECT_RESP2",
        0x8E,
        Smc64,
        V1_2,
        "DEN0077 v1.2, FFA_MSG_SEND_DIRECT_RESP2 (direct messaging interfaces); XEN, CRATE",
        &[
            caller(1, 31, 16, "sender endpoint ID"),
            val(1, 15, 0, "receiver endpoint ID"),
        ],
        Policy::Block,
        Replies::NONE,
        "The host never responds to direct requests.",
    ),
];
