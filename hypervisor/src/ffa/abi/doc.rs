//! The generator of `docs/ffa-policy.md` (development host only: none of its text is in the
//! firmware image).

use core::fmt;

use super::table::TABLE;
use super::types::*;

/// Decisions that are not tied to a single row (reference §4.1 and the hygiene rules).
pub const DECISIONS: &[(&str, &str)] = &[
    (
        "§4.1 #1 buffer-ABI ID field",
        "RXTX_UNMAP names the caller in w1[31:16], RX_RELEASE/RX_ACQUIRE in w1[15:0]; the \
         other half is reserved, so w1 must be 0 in full for all three (pKVM, EDK2 #12563, HF \
         at a virtual instance).",
    ),
    (
        "§4.1 #2 call before FFA_VERSION",
        "FFA_ERROR(NOT_SUPPORTED) (Xen), not INVALID_PARAMETERS (pKVM): no schema can be \
         chosen before a version exists, and INVALID_PARAMETERS is kept for failed field \
         checks so the audit trail means one thing.",
    ),
    (
        "§4.1 #3 when negotiation is final",
        "At the first FF-A call other than FFA_VERSION (Xen, Hafnium; the spec lets a caller \
         probe several times). Before that, a new FFA_VERSION renegotiates. After it, a \
         request with major 1 and minor >= the negotiated one gets the negotiated version; a \
         lower minor or another major gets NOT_SUPPORTED, because the proxy forwards \
         structures unchanged and cannot translate between versions (pKVM f4142693).",
    ),
    (
        "§4.1 #4 FFA_VERSION return value",
        "The negotiated version (pKVM), not always 1.2 (Xen): it is the only version the proxy \
         will speak to this caller, and after negotiation is final a higher request must not \
         be told of a version it cannot get. It satisfies the spec's compatibility rule (same \
         major, minor >= the caller's when the proxy accepted the caller's minor).",
    ),
    (
        "§4.1 #5 per-vCPU flags",
        "BIND: flag forwarded, [31:1] MBZ. SET: flag forwarded, delay-SRI refused, [15:2] \
         MBZ, vCPU ID MBZ unless per-vCPU. The proxy refuses what is invalid from the normal \
         world; whether per-vCPU notifications are supported is the SPMC's answer.",
    ),
    (
        "§4.1 #6 INFO_GET width",
        "Both FFA_NOTIFICATION_INFO_GET_32 and _64 are rows and both are forwarded.",
    ),
    (
        "§4.1 #7 partition list includes the caller",
        "Passed on as the SPMC gives it: the SPMC lists Secure partitions only, and Linux adds \
         its own ID-0 entry when it is missing.",
    ),
    (
        "§4.1 #8 DIRECT_REQ w2",
        "MBZ (Hafnium): no partition-message flags exist and framework messages are not the \
         host's to send.",
    ),
    (
        "§4.1 #9 no-RX-buffer error",
        "FFA_PARTITION_INFO_GET without mapped buffers: DENIED (Xen; the caller cannot \
         receive); with the host's RX still full: BUSY (the spec's error for an RX buffer that \
         is not free; pKVM uses BUSY for both). Count-only calls need no buffer.",
    ),
    (
        "SMC32 upper halves",
        "Bits [63:32] of x1-x7 in an SMC32 call must be zero (the callee would ignore them; \
         the proxy rejects, per the issue). A register the spec names wN carries nothing in \
         bits [63:32] in an SMC64 call either.",
    ),
    (
        "x8-x17",
        "v1.2 (SMCCC v1.2 register file): MBZ for every ABI that does not define them, in both \
         conventions (HF checks them for FFA_RUN, MSG_WAIT and DIRECT_RESP). v1.0/v1.1: not \
         part of an FF-A call, so neither checked nor forwarded (the SPMC gets zeros). In \
         replies, x8-x17 carry the reply's defined registers (DIRECT_RESP2); otherwise an \
         SMC32 caller gets its own x8-x17 back (SMCCC: preserved) and an SMC64 caller gets \
         zeros.",
    ),
    (
        "SMCCC hygiene",
        "As the newest pKVM hyp-main: an SMC with a non-zero immediate, or with x0[63:32] \
         set, gets SMCCC NOT_SUPPORTED (-1 in x0) and nothing is forwarded. The SMCCC v1.3 \
         call hint (bit 16, SVE state not live) is stripped before lookup; the forwarded x0 is \
         the canonical ID without it, which is always safe (the firmware then assumes live \
         SVE state). Bits [23:17] set, or a yielding call (bit 31 clear) with an FF-A \
         function number, get SMCCC NOT_SUPPORTED too: they are not valid FF-A IDs, but the \
         SPMD would decode them by function number.",
    ),
    (
        "Proxy off",
        "No SPMC (FFA_VERSION answers NOT_SUPPORTED), an FF-A major other than 1, SMCCC below \
         v1.2, or an SPMC that does not see the proxy as ID 0: every FF-A call gets SMCCC \
         NOT_SUPPORTED (-1 in x0), exactly what firmware without an SPMD answers.",
    ),
    (
        "Replies",
        "A forwarded call's reply is rebuilt from the registers its ABI defines for that reply \
         (FFA_ERROR w1/w2, FFA_SUCCESS per row, DIRECT_RESP w1/w2/x3-x7, DIRECT_RESP2 \
         w1/x4-x17, INTERRUPT w1/w2, YIELD w1-w3, MSG_WAIT w1); anything else is zero. A \
         reply the ABI does not allow becomes FFA_ERROR(ABORTED) (Xen) and is counted. SMCCC \
         NOT_SUPPORTED from the firmware is passed on as is.",
    ),
];

/// Writes `docs/ffa-policy.md` (the whole file) from the table.
pub fn write_policy_markdown(w: &mut impl fmt::Write) -> fmt::Result {
    writeln!(w, "# FF-A proxy policy")?;
    writeln!(w)?;
    writeln!(
        w,
        "<!-- Generated from hypervisor/src/ffa/abi.rs by ffa::abi::write_policy_markdown. \
     Do not edit: change the table, then run\n     \
     UPDATE_FFA_POLICY=1 cargo test -p hypervisor policy_doc_is_up_to_date -->"
    )?;
    writeln!(w)?;
    w.write_str(INTRO)?;
    writeln!(w)?;
    writeln!(w, "## Summary")?;
    writeln!(w)?;
    writeln!(w, "| Function | SMC32 | SMC64 | Since | Policy |")?;
    writeln!(w, "|---|---|---|---|---|")?;
    for abi in TABLE {
        let id = |c| {
            if abi.convs.has(c) {
                Hex(abi.function_id(c))
            } else {
                Hex(0)
            }
        };
        writeln!(
            w,
            "| {} | {} | {} | {}{} | {} |",
            abi.name,
            id(Conv::Smc32),
            id(Conv::Smc64),
            abi.since,
            Until(abi.until),
            PolicyName(abi.policy)
        )?;
    }
    writeln!(w)?;
    writeln!(w, "## Decisions")?;
    writeln!(w)?;
    for (what, why) in DECISIONS {
        writeln!(w, "- **{what}.** {}", Squash(why))?;
    }
    writeln!(w)?;
    w.write_str(VERSION_TEXT)?;
    writeln!(w)?;
    w.write_str(MEMORY_TEXT)?;
    writeln!(w)?;
    writeln!(w, "## Functions")?;
    for abi in TABLE {
        writeln!(w)?;
        writeln!(w, "### {} ({:#04x})", abi.name, abi.number)?;
        writeln!(w)?;
        writeln!(w, "- Spec: {}", Squash(abi.spec))?;
        writeln!(
            w,
            "- IDs: {}; since v{}{}",
            Ids(abi),
            abi.since,
            Until(abi.until)
        )?;
        writeln!(w, "- Policy: {}", PolicyName(abi.policy))?;
        if abi.policy == Policy::Forward {
            writeln!(w, "- Replies accepted: {}", ReplyNames(abi.replies))?;
        }
        writeln!(w, "- Note: {}", Squash(abi.note))?;
        writeln!(w)?;
        if abi.fields.is_empty() {
            writeln!(
                w,
                "No fields: x1-x7 MBZ (and x8-x17 at v1.2, SMCCC v1.2 calls)."
            )?;
            continue;
        }
        writeln!(w, "| Register | Bits | Field | Rule | Since |")?;
        writeln!(w, "|---|---|---|---|---|")?;
        for f in abi.fields {
            writeln!(
                w,
                "| x{} | {} | {} | {} | {} |",
                f.reg,
                Bits(f),
                f.name,
                KindName(f.kind),
                f.since
            )?;
        }
        writeln!(w)?;
        let high = if abi.policy == Policy::Emulate(Handler::Version) {
            "x8-x17 not checked (see the note)"
        } else {
            "x8-x17 MBZ at v1.2 unless listed"
        };
        writeln!(
            w,
            "Every other bit of x1-x7 MBZ (SMC32: bits [63:32] of x1-x7 too); {high}."
        )?;
    }
    writeln!(w)?;
    w.write_str(TESTING_TEXT)
}

const INTRO: &str = "\
The hypervisor sits between the host (Linux at EL1, FF-A endpoint 0) and the SPMC (OP-TEE at
S-EL1 behind TF-A's SPMD). Every FF-A SMC the host makes traps to EL2 and goes through
`hypervisor::ffa::Proxy::handle`:

1. SMCCC hygiene (immediate, x0[63:32], call hint, reserved ID bits).
2. Lookup in the table below (O(1)); unknown IDs get FFA_ERROR(NOT_SUPPORTED).
3. Version gate: the negotiated version decides which functions and fields exist.
4. Policy: `Block` answers NOT_SUPPORTED; `Forward` and `Emulate` validate first.
5. Validation: every field that names the caller must be 0, every reserved or refused bit must
   be 0. A violation answers FFA_ERROR(INVALID_PARAMETERS), forwards nothing, and yields a
   rejection record naming the function, the register and the field.
6. Forward: the outgoing registers are rebuilt from the schema's carried fields alone
   (everything else zero); the reply is filtered to the registers the ABI defines for it.

Per-function counters (forwarded, emulated, rejected, not supported, refused replies) are
kept for every ID (`Proxy::counters`).
";

const VERSION_TEXT: &str = "\
## Version negotiation

- At boot `Proxy::probe` asks the SPMC FFA_VERSION(1.2), then FFA_ID_GET (must be SUCCESS
  with ID 0), then, from v1.1, FFA_SPM_ID_GET (for the console line `hyp: FF-A: proxy on,
  SPMC v1.2 (ID 0x8000), offering v1.2`; a failure is not fatal). The proxy's version is
  min(firmware, 1.2). Nothing else at boot: FFA_FEATURES queries are the host's, and the
  hypervisor's mailbox is registered at the host's first FFA_RXTX_MAP. A strict SPMC
  (Hafnium) takes ID_GET as the end of version negotiation for ID 0, so there a later host
  downgrade below the SPMC's version is refused and the host gets NOT_SUPPORTED; OP-TEE
  accepts it.
- The host's FFA_VERSION(1.x): minor >= the proxy's gives the proxy's version; a lower minor
  is first asked of the SPMC (pKVM) and, if the SPMC accepts, becomes the negotiated version.
  Major other than 1, or bit 31 set: NOT_SUPPORTED in w0.
- Negotiation is final at the host's first other FF-A call. After that: same major, minor >=
  negotiated: the negotiated version; lower minor: NOT_SUPPORTED.
- State: one atomic word (negotiated version + final bit) read lock-free on every call; the
  rare negotiation path is serialised by a spin lock. A call racing with a negotiation on
  another CPU gets FFA_ERROR(BUSY).

## Concurrency

`Proxy` is `Sync`: the negotiated version is an `AtomicU32`, the counters are `AtomicU64`
(relaxed: they are statistics, each increment is atomic). FFA_VERSION takes the negotiation
spin lock; the mailbox and memory ABIs take the memory spin lock (mailboxes, ownership map,
live transactions) for the whole call, SPMC calls included, so two CPUs never interleave in
the mailboxes. Forwarded ABIs (direct messages, notifications, FFA_RUN) take no lock. The
validation path allocates nothing; the ownership map and the descriptor buffer are allocated
once at boot. The SMC conduit is per call (`&mut`), so each CPU uses its own.
";

const MEMORY_TEXT: &str = "\
## Mailbox, partition discovery and memory sharing

Code: `ffa/mailbox.rs`, `ffa/mem.rs`, `ffa/descriptor.rs`, `ownership.rs`.

**Two instances, one ID (T1).** The host and the hypervisor are both endpoint 0 at the
SPMC, which knows one RX/TX pair for ID 0: the hypervisor's, two 4 KiB pages in the
carve-out (`ffa_platform.rs`, in BSS; the host cannot reach them). The host's pair is
never given to the SPMC; the proxy copies between the pairs. The SPMC never sees a host
buffer address and never reads a buffer the host can still write.

**When the hypervisor's pair is registered.** At the host's first FFA_RXTX_MAP (after
FFA_FEATURES(FFA_RXTX_MAP_64) says the SPMC accepts 4 KiB buffers), not at boot: the host's
FFA_VERSION has happened by then, so the SPMC sees VERSION first from ID 0, and an SPMC that
wants bigger buffers fails the host's map (NO_MEMORY) instead of the boot. The pair stays
registered for good; a host FFA_RXTX_UNMAP only unpins the host's pages.

**The host's pair.** FFA_RXTX_MAP_64 and _32 (the same call with 32-bit addresses; it costs
nothing). FFA_FEATURES(FFA_RXTX_MAP) answers w2[1:0] = 0 (4 KiB) and, from v1.2, w2[31:16]
= 1 (at most one page): each buffer must be exactly one page (page count 1), 4 KiB-aligned,
TX != RX, Owned host RAM that the EL2 map covers (not the carve-out, Secure or firmware
memory, MMIO, a shared page). INVALID_PARAMETERS for a bad address, size or alignment;
DENIED for a page in use or a second map. The pages become SharedWithHyp (pinned) until
FFA_RXTX_UNMAP (w1 = 0; INVALID_PARAMETERS if nothing is mapped). A host with 16 KiB or 64
KiB pages maps 4 or 16 pages and is refused: not supported.

**RX ownership (T10).** The host's RX is full after a successful non-count
FFA_PARTITION_INFO_GET until the host's FFA_RX_RELEASE, which is emulated and never
forwarded (DENIED if nothing is mapped or the RX is not full). The hypervisor's RX is
released at the SPMC right after the copy, and only when the SPMC filled it. OP-TEE 4.10
also leaves the caller's RX full after a failed PARTITION_INFO_GET; the proxy releases
nothing after an error, and when the SPMC later answers BUSY it releases its RX once and
retries.

**FFA_PARTITION_INFO_GET.** Count-only (v1.1+, w5 bit 0) needs no buffer and is forwarded.
Otherwise: DENIED without mapped buffers, BUSY while the host's RX is full; the SPMC's
descriptors (8 bytes at v1.0, 24 from v1.1, count x size <= 4 KiB, else ABORTED) are copied
into the host's RX. FFA_PARTITION_INFO_GET_REGS (v1.2) is registers only and forwarded after
the checks.

**FFA_MEM_SHARE / FFA_MEM_RECLAIM.** The fragment is copied from the host's TX into
hypervisor memory once and only the copy is validated (T6) for the negotiated version:
sender 0, handle 0, flags 0, Normal WB/NC memory with the NS bit clear, 1-4 Secure
receivers with RO/RW access, offsets and lengths inside the fragment with overflow-safe
arithmetic, 1-255 page-aligned, non-empty, non-wrapping constituents whose sum is the total
page count. The constituents are claimed Owned -> SharedWithSecure all or nothing (a page
that is not host RAM: INVALID_PARAMETERS; in use, the mailbox, or named twice: DENIED), then
the copy is written to the hypervisor's TX and the call forwarded. SUCCESS records handle ->
pages in the ownership map (the pages' tag); an error returns them to Owned. RECLAIM is
forwarded only for a recorded handle (else INVALID_PARAMETERS) and returns the recorded
pages to Owned only when the SPMC answers SUCCESS.

**Fragments.** A SHARE or LEND whose fragment length is below its total length is checked
fragment by fragment: the first must hold the header, the receivers, the composite and whole
constituents; each FFA_MEM_FRAG_TX whole constituents only; every fragment is copied,
validated and its pages claimed before it is forwarded through the hypervisor's TX, and the
composite's page total is checked before the last one goes. A refused later fragment aborts
the transaction with FFA_MEM_RECLAIM. One fragmented transaction at a time (BUSY); RECLAIM of
it before it is complete: DENIED.

**Bounds.** Fragments of at most 4 KiB, transactions of at most 8 384 bytes, at most 256 live
transactions, 4 receivers, 512 constituents, 1024 ownership runs:
NO_MEMORY beyond. Host RAM on QEMU is 262 144 pages; the ownership map stores only runs of
non-Owned pages (a sorted vector of fixed capacity, about 32 KiB).

**FFA_MEM_LEND** takes the same path as SHARE, but its pages become LentToSecure and leave
the host's stage 2 (break-before-make, `tlbi ipas2e1is` + `tlbi vmalle1is`) before the SPMC
hears of them; a host access is a stage-2 fault injected as a synchronous external abort;
they come back on RECLAIM SUCCESS or a refused LEND.

**Not implemented, blocked (NOT_SUPPORTED, FFA_FEATURES agrees).** FFA_MEM_DONATE,
FFA_MEM_FRAG_RX from the host (it is the receiver's side), FFA_MEM_RETRIEVE_*, FFA_MSG_SEND2 (the SPMC would read ID 0's TX: needs a checked copy of
the message header).

**Audit.** HVC 0xc600_0001 with an FF-A function ID in x1 (0 for all) returns forwarded,
emulated, rejected, not supported and refused replies in x1-x5 (`hvc.rs`); the hypervisor
prints the same per function at the host's SYSTEM_OFF or SYSTEM_RESET.

**What Linux 7.2 does through the proxy** (Debian's arm64 kernel and OP-TEE 4.10, measured):
FFA_VERSION(1.2) -> 1.2; FFA_ID_GET -> 0; FFA_FEATURES(RXTX_MAP_64) -> 4 KiB, 1 page;
FFA_RXTX_MAP_64(1 page) -> SUCCESS; FFA_FEATURES of MEM_LEND_64 (not supported), MEM_SHARE_64
(SUCCESS), DIRECT_REQ2 and DIRECT_RESP2 (not supported), NOTIFICATION_BITMAP_CREATE
(forwarded, SUCCESS); FFA_NOTIFICATION_BITMAP_CREATE(0, 4 vCPUs); FFA_FEATURES of SRI (SGI 8)
and NPI (not supported), PARTITION_INFO_GET_REGS (not supported by OP-TEE);
FFA_PARTITION_INFO_GET count-only -> 1, then the full call -> 1 x 24 bytes, FFA_RX_RELEASE;
then the OP-TEE driver: FFA_MSG_SEND_DIRECT_REQ (version, capabilities), FFA_NOTIFICATION_BIND,
two FFA_MEM_SHARE_64 of one page each (112-byte v1.2 descriptors, SPMC handles
0x1000_0000_0000 and _0001), FFA_MEM_RECLAIM of the first. No rejection.
";

const TESTING_TEXT: &str = "\
## Tests

- `cargo test -p hypervisor ffa`: unit tests against a scripted mock SPMC, written from the
  reference's register layouts (not from this table), and property tests (proptest, 4096
  cases; `PROPTEST_CASES=1000000 cargo test -p hypervisor proptests` for a long run).
- `cargo test -p hypervisor mailbox_tests`, `descriptor`, `ownership`: the mailbox, partition
  discovery and memory sharing against a model of OP-TEE's SPMC with a simulated physical
  memory (descriptors built as Linux builds them), the descriptor parser (both layouts,
  every truncation, mutations), and the ownership map (transitions, rollback, a random
  sequence checked page by page against a byte-per-page model).
- `fuzz/run.sh 10`: 10 seconds each of the cargo-fuzz targets `ffa_handle` (decode +
  validate + the whole `Proxy::handle` path with a fuzzed SPMC reply) and `ffa_memory`
  (sequences of mailbox and memory calls with a fuzzed host TX descriptor and fuzzed SPMC
  replies; memory only touched at the mailbox pages or host RAM, the SPMC only ever sees the
  hypervisor's mailbox addresses and descriptors that parse).
- Long run: `cd fuzz && cargo +nightly fuzz run ffa_handle corpus/ffa_handle seeds/ffa_handle
  -- -max_len=292 -max_total_time=3600 -jobs=4 -workers=4`, and the same with `ffa_memory`
  and `-max_len=4096` (crashes in `fuzz/artifacts/<target>/`).
";

/// Collapses the runs of spaces that line continuations leave in the string constants.
struct Squash<'a>(&'a str);

impl fmt::Display for Squash<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for word in self.0.split_whitespace() {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(word)?;
            first = false;
        }
        Ok(())
    }
}

struct Hex(u32);

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            f.write_str("-")
        } else {
            write!(f, "`{:#010x}`", self.0)
        }
    }
}

struct Until(Option<Version>);

impl fmt::Display for Until {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, " (until v{v})"),
            None => Ok(()),
        }
    }
}

struct Ids<'a>(&'a Abi);

impl fmt::Display for Ids<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let abi = self.0;
        match abi.convs {
            Convs::Smc32 => write!(f, "SMC32 {}", Hex(abi.function_id(Conv::Smc32))),
            Convs::Smc64 => write!(f, "SMC64 {}", Hex(abi.function_id(Conv::Smc64))),
            Convs::Both => write!(
                f,
                "SMC32 {}, SMC64 {}",
                Hex(abi.function_id(Conv::Smc32)),
                Hex(abi.function_id(Conv::Smc64))
            ),
        }
    }
}

struct PolicyName(Policy);

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Policy::Forward => f.write_str("forward after checks"),
            Policy::Emulate(h) => write!(f, "emulate ({h:?})"),
            Policy::Block => f.write_str("block (NOT_SUPPORTED)"),
        }
    }
}

struct ReplyNames(Replies);

impl fmt::Display for ReplyNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 7] = [
            "FFA_ERROR",
            "FFA_SUCCESS",
            "FFA_MSG_SEND_DIRECT_RESP",
            "FFA_MSG_SEND_DIRECT_RESP2",
            "FFA_INTERRUPT",
            "FFA_YIELD",
            "FFA_MSG_WAIT",
        ];
        let mut first = true;
        for (i, name) in NAMES.iter().enumerate() {
            if self.0.kinds & (1 << i) == 0 {
                continue;
            }
            if !first {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
            if i == 1 {
                write!(f, " (")?;
                let mut any = false;
                for r in 1..18 {
                    if self.0.success_regs & (1 << r) != 0 {
                        write!(f, "{}x{r}", if any { " " } else { "" })?;
                        any = true;
                    }
                }
                if !any {
                    f.write_str("no registers")?;
                }
                f.write_str(")")?;
            }
            first = false;
        }
        Ok(())
    }
}

/// `[hi:lo]`, `[n]`, or `all` for a whole register.
pub(crate) struct Bits<'a>(pub &'a Field);

impl fmt::Display for Bits<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fl = self.0;
        if fl.width >= 64 {
            f.write_str("all (w in SMC32)")
        } else if fl.width == 1 {
            write!(f, "[{}]", fl.lsb)
        } else {
            write!(f, "[{}:{}]", fl.lsb + fl.width - 1, fl.lsb)
        }
    }
}

struct KindName(Kind);

impl fmt::Display for KindName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Kind::Value => f.write_str("carried"),
            Kind::CallerId => f.write_str("caller: must be 0 (host)"),
            Kind::Reserved => f.write_str("reserved: MBZ"),
            Kind::Refused => f.write_str("refused from the host: MBZ"),
            Kind::ValueIf { reg, bit } => write!(f, "carried if x{reg}[{bit}] set, else MBZ"),
            Kind::SecureId => f.write_str("carried: must be a Secure endpoint ID (bit 15 set)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_are_sorted_and_named() {
        for pair in TABLE.windows(2) {
            assert!(
                pair[0].number < pair[1].number,
                "{} out of order",
                pair[1].name
            );
        }
        for abi in TABLE {
            assert!(
                abi.spec.starts_with("DEN0077"),
                "{} names no spec section",
                abi.name
            );
            assert!(!abi.note.is_empty(), "{} has no note", abi.name);
        }
    }
}
