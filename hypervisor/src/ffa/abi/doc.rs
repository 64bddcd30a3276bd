//! The generator of `docs/ffa-policy.md` (compiled for tests only: none of its text is in the
//! firmware image). The limits it prints come from [`crate::budget`], the rows from
//! [`TABLE`]; the decisions the notes name (`D-...`) are stated in `docs/ffa-decisions.md`,
//! and a test checks that each one the table or this text names is defined there.

use core::fmt;

use super::table::TABLE;
use super::types::*;
use crate::budget::{
    MAILBOX_SIZE, MAX_CONSTITUENTS, MAX_DESCRIPTOR, MAX_RECEIVERS, MAX_TRANSACTIONS, OWNERSHIP_RUNS,
};

/// Writes `docs/ffa-policy.md` (the whole file) from the table.
pub fn write_policy_markdown(w: &mut impl fmt::Write) -> fmt::Result {
    writeln!(w, "# FF-A proxy policy")?;
    writeln!(w)?;
    writeln!(
        w,
        "<!-- Generated from hypervisor/src/ffa/abi/table.rs and budget.rs by ffa::abi::write_policy_markdown. \
     Do not edit: change the table, then run\n     \
     UPDATE_FFA_POLICY=1 cargo test -p hypervisor policy_doc_is_up_to_date -->"
    )?;
    writeln!(w)?;
    write!(w, "{}", Linked(INTRO))?;
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
    writeln!(
        w,
        "Each rule above and below that is a choice (where DEN0077 leaves room, or where \
         pKVM, Hafnium, Xen and OP-TEE differ) is named `D-...` and stated with its reasons \
         in [ffa-decisions.md](ffa-decisions.md)."
    )?;
    writeln!(w)?;
    write!(w, "{}", Linked(VERSION_TEXT))?;
    writeln!(w)?;
    write_memory(w)?;
    writeln!(w)?;
    writeln!(w, "## Functions")?;
    for abi in TABLE {
        writeln!(w)?;
        writeln!(w, "### {} ({:#04x})", abi.name, abi.number)?;
        writeln!(w)?;
        writeln!(
            w,
            "- Spec: {} ([sources](ffa-decisions.md#sources))",
            Squash(abi.spec)
        )?;
        writeln!(
            w,
            "- IDs: {}; since v{}{}",
            Ids(abi),
            abi.since,
            Until(abi.until)
        )?;
        writeln!(w, "- Policy: {}", PolicyName(abi.policy))?;
        if !abi.replies.is_empty() {
            writeln!(
                w,
                "- Replies accepted: {}",
                ReplyNames(Replies::of(abi.replies))
            )?;
        }
        writeln!(w, "- Note: {}", Linked(abi.note))?;
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
`hypervisor::ffa::Proxy::handle`. The other SMCs the host may make are PSCI (relayed), Arm
architecture calls and TRNG (forwarded); everything else, Trusted OS and trusted application
calls included, gets SMCCC NOT_SUPPORTED (D-NO-TOS-SMC): the host reaches the Secure world
through this proxy only.

1. SMCCC hygiene (immediate, x0[63:32], call hint, reserved ID bits: D-SMCCC-HYGIENE).
2. Lookup in the table below (O(1)); unknown IDs get FFA_ERROR(NOT_SUPPORTED).
3. Version gate: the negotiated version decides which functions and fields exist (before
   any FFA_VERSION: NOT_SUPPORTED, D-BEFORE-VERSION).
4. Policy: `Block` answers NOT_SUPPORTED; `Forward` and `Emulate` validate first.
5. Validation: every field that names the caller must be 0, every reserved or refused bit must
   be 0 (D-SMC32-UPPER, D-HIGH-REGS). A violation answers FFA_ERROR(INVALID_PARAMETERS), forwards nothing, and yields a
   rejection record naming the function, the register and the field.
6. Forward: the outgoing registers are rebuilt from the schema's carried fields alone
   (everything else zero); the reply is filtered to the registers the ABI defines for it
   (D-REPLIES).

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
  Major other than 1, or bit 31 set: NOT_SUPPORTED in w0 (D-VERSION-SCHEMA). The answer is
  the negotiated version (D-VERSION-RETURN).
- Negotiation is final at the host's first other FF-A call (D-VERSION-FINAL). After that:
  same major, minor >= negotiated: the negotiated version; lower minor: NOT_SUPPORTED.
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

/// The mailbox and memory section, with the limits of [`crate::budget`].
fn write_memory(w: &mut impl fmt::Write) -> fmt::Result {
    let text = alloc::format!(
        "\
## Mailbox, partition discovery and memory sharing

Code: `ffa/rxtx.rs`, `ffa/memory.rs`, `ffa/state.rs`, `ffa/descriptor.rs`, `mm/ownership.rs`.

**Two instances, one ID (D-ONE-ID).** The host and the hypervisor are both endpoint 0 at the
SPMC, which knows one RX/TX pair for ID 0: the hypervisor's, two {mailbox} KiB pages in the
carve-out (`firmware/ffa_port.rs`, in BSS; the host cannot reach them). The host's pair is
never given to the SPMC; the proxy copies between the pairs. The SPMC never sees a host
buffer address and never reads a buffer the host can still write.

**When the hypervisor's pair is registered.** At the host's first FFA_RXTX_MAP (after
FFA_FEATURES(FFA_RXTX_MAP_64) says the SPMC accepts 4 KiB buffers), not at boot: the host's
FFA_VERSION has happened by then, so the SPMC sees VERSION first from ID 0, and an SPMC that
wants bigger buffers fails the host's map (NO_MEMORY) instead of the boot. The pair stays
registered for good; a host FFA_RXTX_UNMAP only unpins the host's pages.

**The host's pair (D-RXTX-MAP).** FFA_RXTX_MAP_64 and _32 (the same call with 32-bit
addresses; it costs nothing). FFA_FEATURES(FFA_RXTX_MAP) answers w2[1:0] = 0 (4 KiB) and,
from v1.2, w2[31:16] = 1 (at most one page): each buffer must be exactly one page (page count
1), 4 KiB-aligned, TX != RX, Owned host RAM that the EL2 map covers (not the carve-out, Secure
or firmware memory, MMIO, a shared page). INVALID_PARAMETERS for a bad address, size or
alignment; DENIED for a page in use or a second map. The pages become SharedWithHyp (pinned)
until FFA_RXTX_UNMAP (w1 = 0; INVALID_PARAMETERS if nothing is mapped). A host with 16 KiB or
64 KiB pages maps 4 or 16 pages and is refused: not supported.

**RX ownership (D-RX-OWNERSHIP).** The host's RX is full after a successful non-count
FFA_PARTITION_INFO_GET until the host's FFA_RX_RELEASE, which is emulated and never
forwarded (DENIED if nothing is mapped or the RX is not full). The hypervisor's RX is
released at the SPMC right after the copy, and only when the SPMC filled it. OP-TEE 4.10
also leaves the caller's RX full after a failed PARTITION_INFO_GET; the proxy releases
nothing after an error, and when the SPMC later answers BUSY it releases its RX once and
retries.

**FFA_PARTITION_INFO_GET.** Count-only (v1.1+, w5 bit 0) needs no buffer and is forwarded.
Otherwise: DENIED without mapped buffers, BUSY while the host's RX is full (D-NO-RX); the
SPMC's descriptors (8 bytes at v1.0, 24 from v1.1, count x size <= {mailbox} KiB, else
ABORTED) are copied into the host's RX. FFA_PARTITION_INFO_GET_REGS (v1.2) is registers only
and forwarded after the checks.

**FFA_MEM_SHARE / FFA_MEM_RECLAIM.** The fragment is copied from the host's TX into
hypervisor memory once and only the copy is validated (D-COPY-ONCE) for the negotiated
version: sender 0, handle 0, flags 0, Normal WB/NC memory with the NS bit clear, 1-{receivers}
Secure receivers with RO/RW access, offsets and lengths inside the fragment with
overflow-safe arithmetic, 1-{constituents} page-aligned, non-empty, non-wrapping constituents
whose sum is the total page count, and no gap: the receivers right after the header, the
composite right after the receivers (D-DESC-CANONICAL). The constituents are claimed Owned ->
SharedWithSecure all or nothing (a page that is not host RAM: INVALID_PARAMETERS; in use, the
mailbox, or named twice: DENIED), then the copy is rebuilt from the validated fields only
(reserved and v1.2 implementation-defined bytes zero), written to the hypervisor's TX and the
call forwarded.
SUCCESS records handle -> pages in the ownership map (the pages' tag); an error returns them
to Owned. RECLAIM is forwarded only for a recorded handle (else INVALID_PARAMETERS) and
returns the recorded pages to Owned only when the SPMC answers SUCCESS (D-RECLAIM).

**Fragments (D-FRAGMENTS).** A SHARE or LEND whose fragment length is below its total length
is checked fragment by fragment: the first must hold the header, the receivers, the
composite and whole constituents in the layout above; each FFA_MEM_FRAG_TX whole constituents
only; every fragment is copied, validated, its pages claimed and rebuilt before it is
forwarded through the
hypervisor's TX, and the composite's page total is checked before the last one goes. A
refused later fragment aborts the transaction with FFA_MEM_RECLAIM. One fragmented
transaction at a time (BUSY); RECLAIM of it before it is complete: DENIED.

**Bounds (D-MEM-BOUNDS).** Fragments of at most {mailbox} KiB, transactions of at most
{descriptor} bytes, at most {transactions} live transactions, {receivers} receivers,
{constituents} constituents, {runs} ownership runs: NO_MEMORY beyond. Host RAM on QEMU is
262 144 pages; the ownership map stores only runs of non-Owned pages (a sorted vector of
fixed capacity). The numbers are the constants of `hypervisor/src/budget.rs`.

**FFA_MEM_LEND (D-LEND)** takes the same path as SHARE, but its pages become LentToSecure and
leave the host's stage 2 (break-before-make, `tlbi ipas2e1is` + `tlbi vmalls12e1is`) before
the SPMC hears of them; a host access is a stage-2 fault injected as a synchronous external
abort; they come back on RECLAIM SUCCESS or a refused LEND. A LEND whose block splits the
stage-2 table pool cannot cover is NO_MEMORY before anything changes (D-LEND-TABLES).

**Not implemented, blocked (NOT_SUPPORTED, FFA_FEATURES agrees).** FFA_MEM_DONATE,
FFA_MEM_FRAG_RX from the host (it is the receiver's side), FFA_MEM_RETRIEVE_*, FFA_MSG_SEND2
(the SPMC would read ID 0's TX: needs a checked copy of the message header; D-NO-INDIRECT).

**Audit.** HVC 0xc600_0001 with an FF-A function ID in x1 (0 for all) returns forwarded,
emulated, rejected, not supported and refused replies in x1-x5 (`hvc.rs`); the hypervisor
prints the same per function at the host's SYSTEM_OFF or SYSTEM_RESET.

**What Linux 7.2 does through the proxy** (Debian's arm64 kernel and OP-TEE 4.10, measured
before FFA_MEM_LEND was emulated):
FFA_VERSION(1.2) -> 1.2; FFA_ID_GET -> 0; FFA_FEATURES(RXTX_MAP_64) -> 4 KiB, 1 page;
FFA_RXTX_MAP_64(1 page) -> SUCCESS; FFA_FEATURES of MEM_LEND_64 (not supported then),
MEM_SHARE_64 (SUCCESS), DIRECT_REQ2 and DIRECT_RESP2 (not supported),
NOTIFICATION_BITMAP_CREATE (forwarded, SUCCESS); FFA_NOTIFICATION_BITMAP_CREATE(0, 4 vCPUs);
FFA_FEATURES of SRI (SGI 8) and NPI (not supported), PARTITION_INFO_GET_REGS (not supported
by OP-TEE); FFA_PARTITION_INFO_GET count-only -> 1, then the full call -> 1 x 24 bytes,
FFA_RX_RELEASE; then the OP-TEE driver: FFA_MSG_SEND_DIRECT_REQ (version, capabilities),
FFA_NOTIFICATION_BIND, two FFA_MEM_SHARE_64 of one page each (112-byte v1.2 descriptors, SPMC
handles 0x1000_0000_0000 and _0001), FFA_MEM_RECLAIM of the first. No rejection.
",
        mailbox = MAILBOX_SIZE / 1024,
        receivers = MAX_RECEIVERS,
        constituents = MAX_CONSTITUENTS,
        descriptor = Thousands(MAX_DESCRIPTOR),
        transactions = MAX_TRANSACTIONS,
        runs = OWNERSHIP_RUNS,
    );
    write!(w, "{}", Linked(&text))
}

/// A number with a space between thousands, as the rest of the documentation writes them.
struct Thousands(usize);

impl fmt::Display for Thousands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 1000 {
            write!(f, "{} {:03}", Thousands(self.0 / 1000), self.0 % 1000)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// Text with each decision ID (`D-` and capitals, digits and dashes) made a link to its
/// section of `docs/ffa-decisions.md`.
struct Linked<'a>(&'a str);

impl fmt::Display for Linked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some((before, id, after)) = next_decision(rest) {
            f.write_str(before)?;
            write!(f, "[{id}](ffa-decisions.md#{})", id.to_ascii_lowercase())?;
            rest = after;
        }
        f.write_str(rest)
    }
}

/// The first decision ID in `text`: (text before it, the ID, text after it).
fn next_decision(text: &str) -> Option<(&str, &str, &str)> {
    let mut from = 0;
    while let Some(at) = text[from..].find("D-").map(|i| from + i) {
        let starts_word = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '-');
        let len = text[at + 2..]
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'))
            .unwrap_or(text.len() - at - 2);
        let id = text[at..at + 2 + len].trim_end_matches('-');
        if starts_word && id.len() > 2 {
            return Some((&text[..at], id, &text[at + id.len()..]));
        }
        from = at + 2;
    }
    None
}

/// Every decision ID named in `text`.
pub(super) fn decisions_in(mut text: &str) -> alloc::vec::Vec<&str> {
    let mut ids = alloc::vec::Vec::new();
    while let Some((_, id, after)) = next_decision(text) {
        ids.push(id);
        text = after;
    }
    ids
}

const TESTING_TEXT: &str = "\
## Tests

- `cargo test -p hypervisor ffa`: unit tests against a scripted mock SPMC, written from
  DEN0077's register layouts independently of this table, and property tests (proptest, 4096
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
- Fuzzing's toolchain, corpus, long runs and their results: docs/fuzzing.md.
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

struct Ids<'a>(&'a Row);

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
            assert!(
                abi.note.len() <= 160 && !abi.note.contains("  "),
                "{}: a note is one line; reasons go to docs/ffa-decisions.md",
                abi.name
            );
        }
    }

    /// The committed `docs/ffa-policy.md` is what the table and the budget generate.
    /// (`ffa/tests.rs` has the same check under the name the regeneration command uses.)
    #[test]
    fn committed_policy_is_generated() {
        let mut generated = String::new();
        write_policy_markdown(&mut generated).unwrap();
        let committed = include_str!("../../../../docs/ffa-policy.md");
        assert!(
            committed == generated,
            "docs/ffa-policy.md is stale; regenerate it with\n    \
             UPDATE_FFA_POLICY=1 cargo test -p hypervisor policy_doc_is_up_to_date"
        );
    }

    /// Every decision a note or the generated policy names is stated in
    /// `docs/ffa-decisions.md` (as a `### D-...` heading, the link's target).
    #[test]
    fn every_decision_named_is_defined() {
        let decisions = include_str!("../../../../docs/ffa-decisions.md");
        let mut policy = String::new();
        write_policy_markdown(&mut policy).unwrap();
        let mut named = 0;
        for text in TABLE.iter().map(|abi| abi.note).chain([policy.as_str()]) {
            for id in decisions_in(text) {
                assert!(
                    decisions.contains(&format!("\n### {id}\n")),
                    "{id} is not defined in docs/ffa-decisions.md"
                );
                named += 1;
            }
        }
        assert!(named > 40);
        for tag in ["§4.1", "reference", concat!("the ", "issue"), "T10", "T1)"] {
            assert!(
                !policy.contains(tag),
                "the policy points outside the repository: {tag}"
            );
        }
    }

    #[test]
    fn decision_ids_are_found_and_linked() {
        assert_eq!(
            decisions_in("(D-ID-FIELD, D-NO-RX). NOD-X D-"),
            ["D-ID-FIELD", "D-NO-RX"]
        );
        assert_eq!(
            format!("{}", Linked("as D-LEND.")),
            "as [D-LEND](ffa-decisions.md#d-lend)."
        );
    }
}
