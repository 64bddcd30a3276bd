//! Unit tests of the mailbox, partition discovery and memory sharing against the test kit's
//! SPMC in its OP-TEE 4.10 model ([`Spmc::optee`]), with simulated physical memory and a
//! simulated host stage 2. Descriptors are built by hand as Linux builds them
//! (`descriptor::tests::linux_share`), not by the production parser.

use std::collections::BTreeSet;

use super::abi::{Status, Version};
use super::descriptor::tests::linux_share;
use super::{MAX_TRANSACTIONS, MemStatus, Outcome, Proxy, Reason};
use crate::smccc::SmcRegs;
use crate::testkit::{Hyp, OPTEE, OTHER, Partition, Spmc, r};
use ffa_spec::{fid, status};

const FFA_ERROR: u64 = fid::ERROR as u64;
const SUCCESS_32: u64 = fid::SUCCESS_32 as u64;
const FFA_VERSION: u64 = fid::VERSION as u64;
const FFA_FEATURES: u64 = fid::FEATURES as u64;
const RX_RELEASE: u64 = fid::RX_RELEASE as u64;
const RXTX_MAP_32: u64 = fid::RXTX_MAP_32 as u64;
const RXTX_MAP_64: u64 = fid::RXTX_MAP_64 as u64;
const RXTX_UNMAP: u64 = fid::RXTX_UNMAP as u64;
const PART_INFO_GET: u64 = fid::PARTITION_INFO_GET as u64;
const MEM_LEND_32: u64 = fid::MEM_LEND_32 as u64;
const MEM_LEND_64: u64 = fid::MEM_LEND_64 as u64;
const MEM_SHARE_32: u64 = fid::MEM_SHARE_32 as u64;
const MEM_SHARE_64: u64 = fid::MEM_SHARE_64 as u64;
const MEM_RECLAIM: u64 = fid::MEM_RECLAIM as u64;
const MEM_FRAG_RX: u64 = fid::MEM_FRAG_RX as u64;
const MEM_FRAG_TX: u64 = fid::MEM_FRAG_TX as u64;

const INVALID_PARAMETERS: u64 = status::INVALID_PARAMETERS as u32 as u64;
const NO_MEMORY: u64 = status::NO_MEMORY as u32 as u64;
const BUSY: u64 = status::BUSY as u32 as u64;
const DENIED: u64 = status::DENIED as u32 as u64;
const ABORTED: u64 = status::ABORTED as u32 as u64;
const NOT_SUPPORTED: u64 = status::NOT_SUPPORTED as u32 as u64;

/// The hypervisor's mailbox pages (in the carve-out).
const HYP_TX: u64 = 0x6000_8000;
const HYP_RX: u64 = 0x6000_9000;
/// The host's mailbox pages.
const HOST_TX: u64 = 0x4800_0000;
const HOST_RX: u64 = 0x4800_1000;
/// QEMU's RAM minus the carve-out.
const RAM: [std::ops::Range<u64>; 2] = [0x4000_0000..0x6000_0000, 0x6020_0000..0x8000_0000];

/// A proxy with memory, the host negotiated at 1.`minor`; the model's record cleared.
fn setup(minor: u16) -> (Hyp, Spmc) {
    let mut fw = Spmc::optee();
    let proxy = Hyp::with_memory(
        Proxy::probe(&mut fw, 0x1_0002),
        (HYP_TX, HYP_RX),
        &RAM,
        &fw.stage2,
    );
    assert_eq!(proxy.mailbox(), Some((HYP_TX, HYP_RX)));
    let mut regs = r(&[FFA_VERSION, 0x1_0000 | u64::from(minor)]);
    assert_eq!(proxy.handle(&mut regs, 0, &mut fw), Outcome::Emulated);
    fw.calls.clear();
    (proxy, fw)
}

/// `setup` plus the host's mailbox mapped.
fn mapped(minor: u16) -> (Hyp, Spmc) {
    let (proxy, mut fw) = setup(minor);
    let mut regs = r(&[RXTX_MAP_64, HOST_TX, HOST_RX, 1]);
    assert_eq!(proxy.handle(&mut regs, 0, &mut fw), Outcome::Emulated);
    assert_eq!(regs, r(&[SUCCESS_32]));
    fw.calls.clear();
    (proxy, fw)
}

fn call(proxy: &Hyp, fw: &mut Spmc, regs: &[u64]) -> (Outcome, SmcRegs) {
    let mut io = r(regs);
    let outcome = proxy.handle(&mut io, 0, fw);
    (outcome, io)
}

/// Asserts the call is refused at EL2 with FFA_ERROR(`code`) and nothing reaches the SPMC.
fn assert_refused(proxy: &Hyp, fw: &mut Spmc, regs: &[u64], code: u64, what: &str) {
    let before = proxy.memory_status();
    let counts = proxy.counters().get(regs[0] as u32).expect("known ID");
    let (outcome, reply) = call(proxy, fw, regs);
    assert!(
        matches!(outcome, Outcome::Rejected(_)),
        "{what}: expected a rejection, got {outcome:?}"
    );
    assert_eq!(reply, r(&[FFA_ERROR, 0, code]), "{what}: reply");
    assert!(
        fw.calls.is_empty(),
        "{what}: reached the SPMC: {:#x?}",
        fw.calls
    );
    assert_eq!(proxy.memory_status(), before, "{what}: state changed");
    let after = proxy.counters().get(regs[0] as u32).expect("known ID");
    assert_eq!(
        after.rejected,
        counts.rejected + 1,
        "{what}: rejected counter"
    );
    assert_eq!(
        after.forwarded, counts.forwarded,
        "{what}: forwarded counter"
    );
}

fn refusal_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Rejected(rec) | Outcome::ReplyRefused(rec) => rec.to_string(),
        other => format!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// RXTX_MAP / RXTX_UNMAP / RX_RELEASE
// ---------------------------------------------------------------------------------------

#[test]
fn map_registers_the_hypervisors_pair_once_and_never_a_host_address() {
    let (proxy, mut fw) = setup(2);
    let (outcome, reply) = call(&proxy, &mut fw, &[RXTX_MAP_64, HOST_TX, HOST_RX, 1]);
    assert_eq!(outcome, Outcome::Emulated);
    assert_eq!(reply, r(&[SUCCESS_32]));
    assert_eq!(
        fw.calls,
        [
            r(&[FFA_FEATURES, RXTX_MAP_64]),
            r(&[RXTX_MAP_64, HYP_TX, HYP_RX, 1])
        ],
        "the SPMC sees the hypervisor's pair only"
    );
    assert_eq!(fw.registered, Some((HYP_TX, HYP_RX)));
    let status = proxy.memory_status();
    assert_eq!(status.host_mailbox, Some((HOST_TX, HOST_RX, false)));
    assert!(status.hyp_registered);

    // Unmap and map again elsewhere: the SPMC hears nothing more.
    fw.calls.clear();
    assert_eq!(
        call(&proxy, &mut fw, &[RXTX_UNMAP]),
        (Outcome::Emulated, r(&[SUCCESS_32]))
    );
    assert_eq!(proxy.memory_status().host_mailbox, None);
    let (outcome, _) = call(&proxy, &mut fw, &[RXTX_MAP_32, 0x5000_0000, 0x5000_2000, 1]);
    assert_eq!(outcome, Outcome::Emulated, "SMC32 map");
    assert!(fw.calls.is_empty(), "{:#x?}", fw.calls);
    let c = proxy.counters().get(RXTX_MAP_64 as u32).unwrap();
    assert_eq!((c.emulated, c.forwarded), (1, 0));
}

#[test]
fn map_refuses_buffers_that_are_not_owned_host_ram() {
    let (proxy, mut fw) = setup(2);
    let cases: &[(u64, u64, u64, u64, &str)] = &[
        (
            0x6000_0000,
            HOST_RX,
            1,
            INVALID_PARAMETERS,
            "TX in the carve-out",
        ),
        (
            HOST_TX,
            HYP_RX,
            1,
            INVALID_PARAMETERS,
            "RX is the hypervisor's own RX",
        ),
        (
            HYP_TX,
            HOST_RX,
            1,
            INVALID_PARAMETERS,
            "TX is the hypervisor's own TX",
        ),
        (
            0x0e10_0000,
            HOST_RX,
            1,
            INVALID_PARAMETERS,
            "TX in Secure RAM",
        ),
        (
            HOST_TX,
            0x0900_0000,
            1,
            INVALID_PARAMETERS,
            "RX is the UART",
        ),
        (
            HOST_TX,
            0x8000_0000,
            1,
            INVALID_PARAMETERS,
            "RX past the end of RAM",
        ),
        (
            HOST_TX,
            0x1_0000_0000_0000,
            1,
            INVALID_PARAMETERS,
            "RX far away",
        ),
        (
            0xFFFF_FFFF_FFFF_F000,
            HOST_RX,
            1,
            INVALID_PARAMETERS,
            "TX in the last page",
        ),
        (
            HOST_TX,
            0xFFFF_FFFF_FFFF_F000,
            1,
            INVALID_PARAMETERS,
            "RX in the last page",
        ),
        (0x4800_0800, HOST_RX, 1, INVALID_PARAMETERS, "TX unaligned"),
        (HOST_TX, HOST_RX + 8, 1, INVALID_PARAMETERS, "RX unaligned"),
        (
            HOST_TX,
            HOST_TX,
            1,
            INVALID_PARAMETERS,
            "TX and RX the same page",
        ),
        (HOST_TX, HOST_RX, 0, INVALID_PARAMETERS, "0 pages"),
        (
            HOST_TX,
            HOST_RX + 0x1000,
            2,
            INVALID_PARAMETERS,
            "8 KiB buffers",
        ),
        (
            HOST_TX,
            HOST_RX + 0xF000,
            16,
            INVALID_PARAMETERS,
            "64 KiB buffers",
        ),
    ];
    for &(tx, rx, pages, code, what) in cases {
        assert_refused(&proxy, &mut fw, &[RXTX_MAP_64, tx, rx, pages], code, what);
    }
    // A 64-bit address in an SMC32 map is a field error (upper halves MBZ).
    let (outcome, _) = call(
        &proxy,
        &mut fw,
        &[RXTX_MAP_32, 1 << 32 | HOST_TX, HOST_RX, 1],
    );
    assert!(matches!(outcome, Outcome::Rejected(_)));
    assert!(fw.calls.is_empty());
    assert_eq!(proxy.memory_status().runs.0, 0, "no page changed state");
    assert_eq!(fw.registered, None, "the SPMC heard nothing");
}

#[test]
fn a_second_map_or_a_map_of_a_shared_page_is_denied() {
    let (proxy, mut fw) = mapped(2);
    assert_refused(
        &proxy,
        &mut fw,
        &[RXTX_MAP_64, 0x5000_0000, 0x5000_1000, 1],
        DENIED,
        "second map",
    );
    // Share a page, unmap, then try to map the shared page.
    share(&proxy, &mut fw, 2, &[(0x5000_0000, 1)]);
    fw.calls.clear();
    assert_eq!(call(&proxy, &mut fw, &[RXTX_UNMAP]).0, Outcome::Emulated);
    assert_refused(
        &proxy,
        &mut fw,
        &[RXTX_MAP_64, 0x5000_0000, 0x5000_1000, 1],
        DENIED,
        "TX is shared with the Secure world",
    );
}

#[test]
fn an_spmc_needing_bigger_buffers_fails_the_map_and_changes_nothing() {
    let (proxy, mut fw) = setup(2);
    fw.rxtx_features = 1; // 64 KiB minimum
    let (outcome, reply) = call(&proxy, &mut fw, &[RXTX_MAP_64, HOST_TX, HOST_RX, 1]);
    assert!(matches!(outcome, Outcome::Rejected(_)), "{outcome:?}");
    assert_eq!(reply, r(&[FFA_ERROR, 0, NO_MEMORY]));
    assert_eq!(fw.calls, [r(&[FFA_FEATURES, RXTX_MAP_64])]);
    assert_eq!(proxy.memory_status().host_mailbox, None);
    assert_eq!(proxy.memory_status().runs.0, 0, "host pages released again");
    // The SPMC refusing the map itself.
    fw.rxtx_features = 0;
    fw.calls.clear();
    fw.script
        .extend([r(&[SUCCESS_32]), r(&[FFA_ERROR, 0, DENIED])]);
    let (_, reply) = call(&proxy, &mut fw, &[RXTX_MAP_64, HOST_TX, HOST_RX, 1]);
    assert_eq!(reply, r(&[FFA_ERROR, 0, DENIED]));
    assert_eq!(proxy.memory_status().runs.0, 0);
    // And then it works.
    let (outcome, _) = call(&proxy, &mut fw, &[RXTX_MAP_64, HOST_TX, HOST_RX, 1]);
    assert_eq!(outcome, Outcome::Emulated);
}

#[test]
fn unmap_and_release_need_a_mapped_mailbox() {
    let (proxy, mut fw) = setup(2);
    assert_refused(
        &proxy,
        &mut fw,
        &[RXTX_UNMAP],
        INVALID_PARAMETERS,
        "unmap, nothing mapped",
    );
    assert_refused(
        &proxy,
        &mut fw,
        &[RX_RELEASE],
        DENIED,
        "release, nothing mapped",
    );
    let (proxy, mut fw) = mapped(2);
    assert_refused(
        &proxy,
        &mut fw,
        &[RX_RELEASE],
        DENIED,
        "release of an empty RX",
    );
    // w1 must be 0 for both (the schema).
    let (outcome, _) = call(&proxy, &mut fw, &[RX_RELEASE, 1]);
    assert!(matches!(outcome, Outcome::Rejected(rec) if matches!(rec.reason, Reason::Field(_))));
    let (outcome, _) = call(&proxy, &mut fw, &[RXTX_UNMAP, 1 << 16]);
    assert!(matches!(outcome, Outcome::Rejected(rec) if matches!(rec.reason, Reason::Field(_))));
    assert!(fw.calls.is_empty());
    // Unmap frees the pages: they can be shared now.
    assert_eq!(call(&proxy, &mut fw, &[RXTX_UNMAP]).0, Outcome::Emulated);
    assert_eq!(proxy.memory_status().runs.0, 0);
}

// ---------------------------------------------------------------------------------------
// PARTITION_INFO_GET
// ---------------------------------------------------------------------------------------

fn expected_descriptors(parts: &[Partition], size: usize) -> Vec<u8> {
    let mut d = Vec::new();
    for p in parts {
        d.extend_from_slice(&p.0.to_le_bytes());
        d.extend_from_slice(&p.1.to_le_bytes());
        d.extend_from_slice(&p.2.to_le_bytes());
        if size == 24 {
            d.extend_from_slice(&p.3);
        }
    }
    d
}

#[test]
fn partition_info_is_copied_into_the_host_rx_at_every_version() {
    for (minor, size) in [(0u16, 8usize), (1, 24), (2, 24)] {
        let (proxy, mut fw) = mapped(minor);
        let (outcome, reply) = call(&proxy, &mut fw, &[PART_INFO_GET]);
        assert_eq!(outcome, Outcome::Forwarded, "v1.{minor}");
        let w3 = if minor == 0 { 0 } else { 24 };
        assert_eq!(reply, r(&[SUCCESS_32, 0, 2, w3]), "v1.{minor} reply");
        assert_eq!(
            fw.peek(HOST_RX, 2 * size),
            expected_descriptors(&[OPTEE, OTHER], size),
            "v1.{minor}: the host's RX holds the SPMC's descriptors"
        );
        assert_eq!(
            fw.ffa_calls(),
            [PART_INFO_GET, RX_RELEASE],
            "v1.{minor}: asked, then the hypervisor's RX released"
        );
        assert_eq!(fw.calls[0], r(&[PART_INFO_GET]), "forwarded as rebuilt");
        assert!(
            !fw.rx_full,
            "v1.{minor}: the hypervisor's RX is free at the SPMC"
        );
        assert_eq!(
            proxy.memory_status().host_mailbox,
            Some((HOST_TX, HOST_RX, true))
        );

        // The host's RX is full until it releases it: a second call is BUSY, locally.
        fw.calls.clear();
        assert_refused(&proxy, &mut fw, &[PART_INFO_GET], BUSY, "RX still full");
        assert_eq!(
            call(&proxy, &mut fw, &[RX_RELEASE]),
            (Outcome::Emulated, r(&[SUCCESS_32]))
        );
        assert!(
            fw.calls.is_empty(),
            "the host's RX_RELEASE never reaches the SPMC"
        );
        let (outcome, _) = call(&proxy, &mut fw, &[PART_INFO_GET]);
        assert_eq!(outcome, Outcome::Forwarded, "v1.{minor}: after the release");
    }
}

#[test]
fn partition_info_zeroes_the_rest_of_the_host_rx() {
    for (minor, size) in [(0u16, 8usize), (1, 24), (2, 24)] {
        let (proxy, mut fw) = mapped(minor);
        // What the host left in its RX before the call must not survive after the entries.
        fw.poke(HOST_RX, &[0xAA; 4096]);
        let (outcome, _) = call(&proxy, &mut fw, &[PART_INFO_GET]);
        assert_eq!(outcome, Outcome::Forwarded, "v1.{minor}");
        assert_eq!(
            fw.peek(HOST_RX, 2 * size),
            expected_descriptors(&[OPTEE, OTHER], size),
            "v1.{minor}: the entries"
        );
        assert!(
            fw.peek(HOST_RX + 2 * size as u64, 4096 - 2 * size)
                .iter()
                .all(|&b| b == 0),
            "v1.{minor}: stale bytes after the entries"
        );
    }
}

#[test]
fn count_only_needs_no_buffer_and_is_forwarded_as_is() {
    let (proxy, mut fw) = setup(2);
    let (outcome, reply) = call(&proxy, &mut fw, &[PART_INFO_GET, 0, 0, 0, 0, 1]);
    assert_eq!(outcome, Outcome::Forwarded);
    assert_eq!(reply, r(&[SUCCESS_32, 0, 2, 0]));
    assert_eq!(fw.calls, [r(&[PART_INFO_GET, 0, 0, 0, 0, 1])]);
    // At v1.0 the flag does not exist.
    let (proxy, mut fw) = mapped(0);
    let (outcome, reply) = call(&proxy, &mut fw, &[PART_INFO_GET, 0, 0, 0, 0, 1]);
    assert!(matches!(outcome, Outcome::Rejected(_)), "{outcome:?}");
    assert_eq!(reply, r(&[FFA_ERROR, 0, INVALID_PARAMETERS]));
    assert!(fw.calls.is_empty());
}

#[test]
fn partition_info_without_a_mailbox_is_denied() {
    let (proxy, mut fw) = setup(2);
    assert_refused(&proxy, &mut fw, &[PART_INFO_GET], DENIED, "no mailbox");
}

#[test]
fn a_uuid_filter_reaches_the_spmc_and_an_error_releases_nothing() {
    let (proxy, mut fw) = mapped(2);
    let uuid: Vec<u64> = OPTEE
        .3
        .chunks(4)
        .map(|c| u64::from(u32::from_le_bytes(c.try_into().unwrap())))
        .collect();
    let (outcome, reply) = call(
        &proxy,
        &mut fw,
        &[PART_INFO_GET, uuid[0], uuid[1], uuid[2], uuid[3]],
    );
    assert_eq!(outcome, Outcome::Forwarded);
    assert_eq!(reply, r(&[SUCCESS_32, 0, 1, 24]));
    assert_eq!(fw.peek(HOST_RX, 24), expected_descriptors(&[OPTEE], 24));
    assert_eq!(call(&proxy, &mut fw, &[RX_RELEASE]).0, Outcome::Emulated);

    // An unknown UUID: the SPMC's error reaches the host, the proxy sends no RX_RELEASE
    // (the spec: an error transfers nothing), and the host's RX stays free.
    fw.calls.clear();
    let (outcome, reply) = call(&proxy, &mut fw, &[PART_INFO_GET, 1, 2, 3, 4]);
    assert_eq!(outcome, Outcome::Forwarded);
    assert_eq!(reply, r(&[FFA_ERROR, 0, INVALID_PARAMETERS]));
    assert_eq!(fw.ffa_calls(), [PART_INFO_GET]);
    assert_eq!(
        proxy.memory_status().host_mailbox,
        Some((HOST_TX, HOST_RX, false))
    );

    // OP-TEE left our RX full anyway: the next call gets BUSY from it, the proxy releases
    // its RX once and retries.
    assert!(fw.rx_full);
    fw.calls.clear();
    let (outcome, reply) = call(&proxy, &mut fw, &[PART_INFO_GET]);
    assert_eq!(outcome, Outcome::Forwarded);
    assert_eq!(reply, r(&[SUCCESS_32, 0, 2, 24]));
    assert_eq!(
        fw.ffa_calls(),
        [PART_INFO_GET, RX_RELEASE, PART_INFO_GET, RX_RELEASE]
    );
}

#[test]
fn spmc_partition_replies_that_do_not_fit_are_aborted() {
    for (reply, what) in [
        (r(&[SUCCESS_32, 0, 2, 16]), "descriptor size 16 at v1.2"),
        (r(&[SUCCESS_32, 0, 200, 24]), "200 descriptors"),
        (r(&[SUCCESS_32, 0, 0xFFFF_FFFF, 24]), "count overflowing"),
        (
            r(&[fid::MSG_SEND_DIRECT_RESP_32.into(), 0x8001]),
            "a direct response",
        ),
    ] {
        let (proxy, mut fw) = mapped(2);
        fw.script.push_back(reply);
        let (outcome, io) = call(&proxy, &mut fw, &[PART_INFO_GET]);
        assert!(
            matches!(outcome, Outcome::ReplyRefused(_)),
            "{what}: {outcome:?}"
        );
        assert_eq!(io, r(&[FFA_ERROR, 0, ABORTED]), "{what}");
        assert_eq!(
            proxy.memory_status().host_mailbox,
            Some((HOST_TX, HOST_RX, false)),
            "{what}: the host's RX stays free"
        );
        assert_eq!(
            proxy
                .counters()
                .get(PART_INFO_GET as u32)
                .unwrap()
                .bad_replies,
            1
        );
    }
}

// ---------------------------------------------------------------------------------------
// MEM_SHARE / MEM_RECLAIM
// ---------------------------------------------------------------------------------------

/// Writes a Linux-style share of `ranges` into the host's TX and shares it; returns the
/// handle.
fn share(proxy: &Hyp, fw: &mut Spmc, minor: u16, ranges: &[(u64, u32)]) -> u64 {
    let ver = Version::from_minor(minor).unwrap();
    let d = linux_share(ver, &[0x8001], ranges);
    fw.poke(HOST_TX, &d);
    let len = d.len() as u64;
    let (outcome, reply) = call(proxy, fw, &[MEM_SHARE_64, len, len]);
    assert_eq!(outcome, Outcome::Forwarded, "{}", refusal_text(&outcome));
    assert_eq!(reply[0], SUCCESS_32);
    reply[2] | reply[3] << 32
}

fn share_refused(proxy: &Hyp, fw: &mut Spmc, d: &[u8], code: u64, what: &str) {
    fw.poke(HOST_TX, d);
    let len = d.len() as u64;
    assert_refused(proxy, fw, &[MEM_SHARE_64, len, len], code, what);
}

#[test]
fn share_and_reclaim_round_trip_at_every_version() {
    for minor in 0..=2u16 {
        let (proxy, mut fw) = mapped(minor);
        let ranges = [(0x5000_0000, 4), (0x5100_0000, 1)];
        let handle = share(&proxy, &mut fw, minor, &ranges);
        let d = linux_share(Version::from_minor(minor).unwrap(), &[0x8001], &ranges);
        assert_eq!(
            fw.calls,
            [r(&[MEM_SHARE_64, d.len() as u64, d.len() as u64])],
            "v1.{minor}: forwarded as the host sent it, x3/w4 zero"
        );
        assert_eq!(
            fw.peek(HYP_TX, d.len()),
            d,
            "v1.{minor}: the SPMC read our copy"
        );
        assert_eq!(fw.shares[&handle], ranges);
        let status = proxy.memory_status();
        assert_eq!((status.transactions, status.shared_pages), (1, 5));

        fw.calls.clear();
        let (outcome, reply) = call(
            &proxy,
            &mut fw,
            &[MEM_RECLAIM, handle & 0xFFFF_FFFF, handle >> 32],
        );
        assert_eq!(outcome, Outcome::Forwarded);
        assert_eq!(reply, r(&[SUCCESS_32]));
        assert!(fw.shares.is_empty());
        let status = proxy.memory_status();
        assert_eq!((status.transactions, status.shared_pages), (0, 0));
        // The pages are the host's again: they can be shared once more.
        share(&proxy, &mut fw, minor, &ranges);
    }
}

#[test]
fn reclaim_of_a_handle_the_host_never_had_is_refused_locally() {
    let (proxy, mut fw) = mapped(2);
    let handle = share(&proxy, &mut fw, 2, &[(0x5000_0000, 1)]);
    fw.calls.clear();
    for h in [handle + 1, 0, u64::MAX, u64::MAX - 1] {
        assert_refused(
            &proxy,
            &mut fw,
            &[MEM_RECLAIM, h & 0xFFFF_FFFF, h >> 32],
            INVALID_PARAMETERS,
            &format!("handle {h:#x}"),
        );
    }
    // Reclaim twice: the second is refused locally.
    let (outcome, _) = call(
        &proxy,
        &mut fw,
        &[MEM_RECLAIM, handle & 0xFFFF_FFFF, handle >> 32],
    );
    assert_eq!(outcome, Outcome::Forwarded);
    fw.calls.clear();
    assert_refused(
        &proxy,
        &mut fw,
        &[MEM_RECLAIM, handle & 0xFFFF_FFFF, handle >> 32],
        INVALID_PARAMETERS,
        "reclaimed already",
    );
}

#[test]
fn pages_stay_shared_until_the_spmc_agrees_to_reclaim() {
    let (proxy, mut fw) = mapped(2);
    let handle = share(&proxy, &mut fw, 2, &[(0x5000_0000, 2)]);
    fw.script.push_back(r(&[FFA_ERROR, 0, DENIED])); // the SP still has it mapped
    let (outcome, reply) = call(
        &proxy,
        &mut fw,
        &[MEM_RECLAIM, handle & 0xFFFF_FFFF, handle >> 32],
    );
    assert_eq!(outcome, Outcome::Forwarded);
    assert_eq!(reply, r(&[FFA_ERROR, 0, DENIED]));
    assert_eq!(proxy.memory_status().shared_pages, 2);
    // Still pinned: a second share of the same page is denied.
    let d = linux_share(Version::V1_2, &[0x8001], &[(0x5000_1000, 1)]);
    fw.calls.clear();
    share_refused(&proxy, &mut fw, &d, DENIED, "share of a shared page");
}

#[test]
fn share_attacks_are_refused_with_nothing_forwarded_or_changed() {
    let (proxy, mut fw) = mapped(2);
    let live = share(&proxy, &mut fw, 2, &[(0x5200_0000, 1)]);
    fw.calls.clear();
    let v = Version::V1_2;
    let cases: Vec<(Vec<u8>, u64, &str)> = vec![
        (
            linux_share(v, &[0x8001], &[(0x6000_0000, 1)]),
            INVALID_PARAMETERS,
            "the carve-out",
        ),
        (
            linux_share(v, &[0x8001], &[(0x5fff_f000, 2)]),
            INVALID_PARAMETERS,
            "into the carve-out",
        ),
        (
            linux_share(v, &[0x8001], &[(HYP_TX, 1)]),
            INVALID_PARAMETERS,
            "the hypervisor's TX",
        ),
        (
            linux_share(v, &[0x8001], &[(0x0e10_0000, 1)]),
            INVALID_PARAMETERS,
            "Secure RAM",
        ),
        (
            linux_share(v, &[0x8001], &[(0x0900_0000, 1)]),
            INVALID_PARAMETERS,
            "MMIO",
        ),
        (
            linux_share(v, &[0x8001], &[(HOST_TX, 1)]),
            DENIED,
            "the host's own TX",
        ),
        (
            linux_share(v, &[0x8001], &[(HOST_RX, 1)]),
            DENIED,
            "the host's own RX",
        ),
        (
            linux_share(v, &[0x8001], &[(0x5200_0000, 1)]),
            DENIED,
            "a page already shared",
        ),
        (
            linux_share(v, &[0x8001], &[(0x5000_0000, 1), (0x5000_0000, 1)]),
            DENIED,
            "the same page twice",
        ),
        (
            linux_share(v, &[0x8001], &[(0x5000_0000, 4), (0x5000_2000, 4)]),
            DENIED,
            "overlapping constituents",
        ),
        (
            linux_share(
                v,
                &[0x8001],
                &[(0x5000_0000, 1), (0xFFFF_FFFF_FFFF_F000, 2)],
            ),
            INVALID_PARAMETERS,
            "a constituent that wraps",
        ),
        (
            linux_share(v, &[0x8001], &[(0x5000_0000, u32::MAX)]),
            INVALID_PARAMETERS,
            "4 G pages (16 TiB) from host RAM",
        ),
        (
            linux_share(v, &[0x0001], &[(0x5000_0000, 1)]),
            INVALID_PARAMETERS,
            "a normal-world receiver",
        ),
        (
            linux_share(Version::V1_1, &[0x8001], &[(0x5000_0000, 1)]),
            INVALID_PARAMETERS,
            "a v1.1 descriptor at v1.2",
        ),
    ];
    for (d, code, what) in &cases {
        share_refused(&proxy, &mut fw, d, *code, what);
    }
    let mut sender = linux_share(v, &[0x8001], &[(0x5000_0000, 1)]);
    sender[0] = 1;
    share_refused(&proxy, &mut fw, &sender, INVALID_PARAMETERS, "sender 1");
    let mut ns = linux_share(v, &[0x8001], &[(0x5000_0000, 1)]);
    ns[2] |= 1 << 6;
    share_refused(&proxy, &mut fw, &ns, INVALID_PARAMETERS, "NS bit");

    // Register-level refusals.
    let d = linux_share(v, &[0x8001], &[(0x5000_0000, 1)]);
    fw.poke(HOST_TX, &d);
    let n = d.len() as u64;
    assert_refused(
        &proxy,
        &mut fw,
        &[MEM_SHARE_64, n + 16, n],
        INVALID_PARAMETERS,
        "a first fragment whose total length is not the descriptor's",
    );
    assert_refused(
        &proxy,
        &mut fw,
        &[MEM_SHARE_64, 9000, 4096],
        NO_MEMORY,
        "a descriptor above 8 384 bytes",
    );
    assert_refused(
        &proxy,
        &mut fw,
        &[MEM_SHARE_64, n, n + 16],
        INVALID_PARAMETERS,
        "fragment > total",
    );
    assert_refused(
        &proxy,
        &mut fw,
        &[MEM_SHARE_64, n, 0],
        INVALID_PARAMETERS,
        "empty fragment",
    );
    assert_refused(
        &proxy,
        &mut fw,
        &[MEM_SHARE_64, n - 16, n - 16],
        INVALID_PARAMETERS,
        "truncated",
    );
    for (regs, what) in [
        (
            r(&[MEM_SHARE_64, n, n, 0x5000_0000, 1]),
            "a separate buffer in x3/w4",
        ),
        (r(&[MEM_SHARE_64, 1 << 32 | n, n]), "x1[63:32]"),
        (r(&[MEM_SHARE_32, n, n, 0, 0, 1]), "w5"),
    ] {
        let (outcome, reply) = call(&proxy, &mut fw, &regs);
        assert!(
            matches!(outcome, Outcome::Rejected(rec) if matches!(rec.reason, Reason::Field(_))),
            "{what}: {outcome:?}"
        );
        assert_eq!(reply, r(&[FFA_ERROR, 0, INVALID_PARAMETERS]), "{what}");
    }
    assert!(fw.calls.is_empty(), "{:#x?}", fw.calls);
    // The live share is intact and the hypervisor still serves.
    assert_eq!(fw.shares.len(), 1);
    assert_eq!(proxy.memory_status().shared_pages, 1);
    let (outcome, _) = call(
        &proxy,
        &mut fw,
        &[MEM_RECLAIM, live & 0xFFFF_FFFF, live >> 32],
    );
    assert_eq!(outcome, Outcome::Forwarded);
    share(&proxy, &mut fw, 2, &[(0x5000_0000, 1)]);
}

#[test]
fn share_without_a_mailbox_is_refused() {
    let (proxy, mut fw) = setup(2);
    assert_refused(
        &proxy,
        &mut fw,
        &[MEM_SHARE_64, 112, 112],
        INVALID_PARAMETERS,
        "no TX",
    );
}

#[test]
fn a_rewrite_of_the_host_tx_after_the_copy_changes_nothing() {
    let (proxy, mut fw) = mapped(2);
    let good = linux_share(Version::V1_2, &[0x8001], &[(0x5000_0000, 1)]);
    // Another CPU swaps the constituent for the carve-out right after the proxy's copy.
    let evil = linux_share(Version::V1_2, &[0x8001], &[(0x6000_0000, 1)]);
    fw.poke(HOST_TX, &good);
    fw.mem().rewrite_after_read = Some((HOST_TX, evil.clone()));
    let n = good.len() as u64;
    let (outcome, reply) = call(&proxy, &mut fw, &[MEM_SHARE_64, n, n]);
    assert_eq!(outcome, Outcome::Forwarded);
    let handle = reply[2] | reply[3] << 32;
    assert_eq!(
        fw.peek(HOST_TX, evil.len()),
        evil,
        "the host did rewrite its TX"
    );
    assert_eq!(
        fw.shares[&handle],
        [(0x5000_0000, 1)],
        "the SPMC got the checked copy"
    );
    assert_eq!(proxy.memory_status().shared_pages, 1);
}

#[test]
fn an_spmc_error_rolls_the_pages_back() {
    let (proxy, mut fw) = mapped(2);
    fw.script.push_back(r(&[FFA_ERROR, 0, NO_MEMORY]));
    let d = linux_share(
        Version::V1_2,
        &[0x8001],
        &[(0x5000_0000, 3), (0x5100_0000, 1)],
    );
    fw.poke(HOST_TX, &d);
    let n = d.len() as u64;
    let (outcome, reply) = call(&proxy, &mut fw, &[MEM_SHARE_64, n, n]);
    assert_eq!(outcome, Outcome::Forwarded);
    assert_eq!(reply, r(&[FFA_ERROR, 0, NO_MEMORY]));
    let status = proxy.memory_status();
    assert_eq!((status.transactions, status.shared_pages), (0, 0));
    // A garbage error code becomes ABORTED.
    fw.script.push_back(r(&[FFA_ERROR, 0, 0x1234]));
    let (_, reply) = call(&proxy, &mut fw, &[MEM_SHARE_64, n, n]);
    assert_eq!(reply, r(&[FFA_ERROR, 0, ABORTED]));
    assert_eq!(proxy.memory_status().shared_pages, 0);
    share(&proxy, &mut fw, 2, &[(0x5000_0000, 3)]);
}

#[test]
fn a_fragment_request_for_a_single_fragment_aborts_the_transaction() {
    let (proxy, mut fw) = mapped(2);
    let d = linux_share(Version::V1_2, &[0x8001], &[(0x5000_0000, 1)]);
    fw.poke(HOST_TX, &d);
    let n = d.len() as u64;
    // The SPMC answers MEM_FRAG_RX for handle 0x77; the proxy reclaims it, then rolls back.
    fw.script.push_back(r(&[MEM_FRAG_RX, 0x77, 0, n]));
    fw.script.push_back(r(&[SUCCESS_32]));
    let (outcome, reply) = call(&proxy, &mut fw, &[MEM_SHARE_64, n, n]);
    assert!(matches!(outcome, Outcome::ReplyRefused(_)), "{outcome:?}");
    assert_eq!(reply, r(&[FFA_ERROR, 0, ABORTED]));
    assert_eq!(fw.calls[1], r(&[MEM_RECLAIM, 0x77, 0]));
    assert_eq!(proxy.memory_status().shared_pages, 0);
    // If that reclaim fails, the pages stay pinned (the SPMC may have them).
    fw.script.push_back(r(&[MEM_FRAG_RX, 0x78, 0, n]));
    fw.script.push_back(r(&[FFA_ERROR, 0, DENIED]));
    let (outcome, _) = call(&proxy, &mut fw, &[MEM_SHARE_64, n, n]);
    assert!(matches!(outcome, Outcome::ReplyRefused(_)));
    assert_eq!(proxy.memory_status().shared_pages, 1);
    fw.calls.clear();
    assert_refused(
        &proxy,
        &mut fw,
        &[MEM_RECLAIM, 0x78, 0],
        INVALID_PARAMETERS,
        "lost handle",
    );
}

#[test]
fn a_duplicate_handle_from_the_spmc_keeps_both_transactions_pinned() {
    let (proxy, mut fw) = mapped(2);
    let first = share(&proxy, &mut fw, 2, &[(0x5000_0000, 1)]);
    fw.script
        .push_back(r(&[SUCCESS_32, 0, first & 0xFFFF_FFFF, first >> 32]));
    let d = linux_share(Version::V1_2, &[0x8001], &[(0x5100_0000, 1)]);
    fw.poke(HOST_TX, &d);
    let n = d.len() as u64;
    let (outcome, reply) = call(&proxy, &mut fw, &[MEM_SHARE_64, n, n]);
    assert!(matches!(outcome, Outcome::ReplyRefused(_)));
    assert_eq!(reply, r(&[FFA_ERROR, 0, ABORTED]));
    assert_eq!(proxy.memory_status().shared_pages, 2);
    // Reclaiming the first handle frees only its own page.
    let (outcome, _) = call(
        &proxy,
        &mut fw,
        &[MEM_RECLAIM, first & 0xFFFF_FFFF, first >> 32],
    );
    assert_eq!(outcome, Outcome::Forwarded);
    assert_eq!(proxy.memory_status().shared_pages, 1);
}

/// D-LOST-PAGES: pages the SPMC may hold after an unexpected reply stay withheld from the
/// host for good, but counted (status, audit), named in the record, and bounded: each such
/// transaction keeps its slot of MAX_TRANSACTIONS, so an SPMC that keeps answering
/// nonsense can take at most that many transactions' pages, after which SHARE and LEND are
/// refused with NO_MEMORY and the proxy keeps serving.
#[test]
fn pages_lost_to_unexpected_replies_are_withheld_counted_and_bounded() {
    let (proxy, mut fw) = mapped(2);
    let lose = |proxy: &Hyp, fw: &mut Spmc, i: u64, pages: u32| {
        let d = linux_share(
            Version::V1_2,
            &[0x8001],
            &[(0x5000_0000 + i * 0x10_0000, pages)],
        );
        fw.poke(HOST_TX, &d);
        let n = d.len() as u64;
        // Neither SUCCESS nor ERROR: the SPMC may or may not hold the pages.
        fw.script.push_back(r(&[fid::MSG_WAIT.into()]));
        let (outcome, reply) = call(proxy, fw, &[MEM_SHARE_64, n, n]);
        assert_eq!(reply, r(&[FFA_ERROR, 0, ABORTED]));
        let Outcome::ReplyRefused(rec) = outcome else {
            panic!("expected a refused reply, got {outcome:?}");
        };
        assert!(
            matches!(
                rec.reason,
                Reason::Refused {
                    status: Status::Aborted,
                    ..
                }
            ),
            "{rec}"
        );
        assert!(rec.to_string().contains("pages withheld"), "{rec}");
    };
    lose(&proxy, &mut fw, 0, 3);
    let status = proxy.memory_status();
    assert_eq!(
        (
            status.transactions,
            status.lost_transactions,
            status.lost_pages
        ),
        (0, 1, 3)
    );
    assert_eq!(status.shared_pages, 3, "still pinned");
    assert_eq!(proxy.counters().lost(), (1, 3), "audit");
    // The pages are not the host's to share again.
    fw.calls.clear();
    let d = linux_share(Version::V1_2, &[0x8001], &[(0x5000_1000, 1)]);
    share_refused(&proxy, &mut fw, &d, DENIED, "a withheld page");
    // One live transaction beside the lost ones, then lost ones up to the limit.
    let live = share(&proxy, &mut fw, 2, &[(0x7000_0000, 1)]);
    for i in 1..(MAX_TRANSACTIONS - 1) as u64 {
        lose(&proxy, &mut fw, i, 1);
    }
    let status = proxy.memory_status();
    assert_eq!(
        (status.transactions, status.lost_transactions),
        (1, MAX_TRANSACTIONS - 1)
    );
    assert_eq!(status.lost_pages, 3 + (MAX_TRANSACTIONS as u64 - 2));
    fw.calls.clear();
    let d = linux_share(Version::V1_2, &[0x8001], &[(0x7100_0000, 1)]);
    share_refused(&proxy, &mut fw, &d, NO_MEMORY, "every slot live or lost");
    // The live one still reclaims, and frees its slot for a new one.
    let (outcome, _) = call(
        &proxy,
        &mut fw,
        &[MEM_RECLAIM, live & 0xFFFF_FFFF, live >> 32],
    );
    assert_eq!(outcome, Outcome::Forwarded);
    share(&proxy, &mut fw, 2, &[(0x7100_0000, 1)]);
}

#[test]
fn live_transactions_are_bounded() {
    let (proxy, mut fw) = mapped(2);
    for i in 0..MAX_TRANSACTIONS as u64 {
        share(&proxy, &mut fw, 2, &[(0x5000_0000 + 2 * i * 0x1000, 1)]);
    }
    fw.calls.clear();
    let d = linux_share(Version::V1_2, &[0x8001], &[(0x5800_0000, 1)]);
    share_refused(&proxy, &mut fw, &d, NO_MEMORY, "one transaction too many");
    let status: MemStatus = proxy.memory_status();
    assert_eq!(status.transactions, MAX_TRANSACTIONS);
}

#[test]
fn features_answer_what_the_proxy_supports() {
    let (proxy, mut fw) = setup(2);
    let features = |proxy: &Hyp, fw: &mut Spmc, id: u64| call(proxy, fw, &[FFA_FEATURES, id]).1;
    for id in [RXTX_MAP_64, RXTX_MAP_32] {
        assert_eq!(
            features(&proxy, &mut fw, id),
            r(&[SUCCESS_32, 0, 1 << 16]),
            "FEATURES({id:#x}): 4 KiB minimum, at most one page (v1.2)"
        );
    }
    for id in [
        RXTX_UNMAP,
        RX_RELEASE,
        PART_INFO_GET,
        MEM_SHARE_32,
        MEM_SHARE_64,
        MEM_LEND_32,
        MEM_LEND_64,
        MEM_RECLAIM,
        MEM_FRAG_TX,
    ] {
        assert_eq!(
            features(&proxy, &mut fw, id),
            r(&[SUCCESS_32]),
            "FEATURES({id:#x})"
        );
    }
    for id in [MEM_FRAG_RX, fid::MSG_SEND2.into()] {
        assert_eq!(
            features(&proxy, &mut fw, id),
            r(&[FFA_ERROR, 0, NOT_SUPPORTED]),
            "FEATURES({id:#x}): FRAG_RX from the host, SEND2 stay blocked"
        );
    }
    assert!(fw.calls.is_empty());
    let (proxy, mut fw) = setup(1);
    assert_eq!(
        features(&proxy, &mut fw, RXTX_MAP_64),
        r(&[SUCCESS_32]),
        "no maximum before v1.2"
    );
}

#[test]
fn refusals_name_what_was_wrong() {
    let (proxy, mut fw) = setup(2);
    let (outcome, _) = call(&proxy, &mut fw, &[RXTX_MAP_64, 0x6000_0000, HOST_RX, 1]);
    let text = refusal_text(&outcome);
    assert!(
        text.contains("FFA_RXTX_MAP")
            && text.contains("INVALID_PARAMETERS")
            && text.contains("TX buffer is not host RAM")
            && text.contains("0x60000000"),
        "{text}"
    );
    assert!(matches!(
        outcome,
        Outcome::Rejected(rec) if matches!(rec.reason, Reason::Refused { status: Status::InvalidParameters, .. })
    ));
}

#[test]
fn memory_configurations_that_overlap_host_ram_are_ignored() {
    let mut fw = Spmc::optee();
    for (tx, rx) in [
        (HOST_TX, HYP_RX),
        (HYP_TX, HYP_TX),
        (HYP_TX + 8, HYP_RX),
        (HYP_TX, 0x5fff_f000),
    ] {
        let proxy = Hyp::with_memory(Proxy::probe(&mut fw, 0x1_0002), (tx, rx), &RAM, &fw.stage2);
        assert_eq!(proxy.mailbox(), None, "({tx:#x}, {rx:#x})");
    }
}

// ---------------------------------------------------------------------------------------
// MEM_LEND: the pages leave the host's stage 2
// ---------------------------------------------------------------------------------------

/// Lends `ranges` with `function`; returns the reply.
fn lend(proxy: &Hyp, fw: &mut Spmc, function: u64, ranges: &[(u64, u32)]) -> (Outcome, SmcRegs) {
    let d = lend_descriptor(ranges);
    fw.poke(HOST_TX, &d);
    let len = d.len() as u64;
    call(proxy, fw, &[function, len, len])
}

/// A v1.2 LEND of `ranges` to OP-TEE: as Linux's share, with the attributes "not specified".
fn lend_descriptor(ranges: &[(u64, u32)]) -> Vec<u8> {
    let mut d = linux_share(Version::V1_2, &[0x8001], ranges);
    d[2] = 0;
    d[3] = 0;
    d
}

fn pages(ranges: &[(u64, u32)]) -> BTreeSet<u64> {
    ranges
        .iter()
        .flat_map(|&(a, n)| (0..u64::from(n)).map(move |i| a + i * 4096))
        .collect()
}

#[test]
fn lend_unmaps_before_the_spmc_hears_and_reclaim_maps_back() {
    for function in [MEM_LEND_32, MEM_LEND_64] {
        let (proxy, mut fw) = mapped(2);
        let ranges = [(0x5000_0000, 3), (0x5100_0000, 1)];
        let (outcome, reply) = lend(&proxy, &mut fw, function, &ranges);
        assert_eq!(outcome, Outcome::Forwarded, "{}", refusal_text(&outcome));
        assert_eq!(reply[0], SUCCESS_32);
        let handle = reply[2] | reply[3] << 32;
        assert_eq!(fw.calls.len(), 1);
        assert_eq!(
            fw.calls[0][0], function,
            "forwarded as the host's function ID"
        );
        assert_eq!(
            fw.lends_saw_unmapped,
            [true],
            "unmapped before the SPMC had them"
        );
        assert_eq!(fw.stage2.view().unmapped, pages(&ranges));
        let status = proxy.memory_status();
        assert_eq!(
            (status.transactions, status.lent_pages, status.shared_pages),
            (1, 4, 0)
        );
        // Lent pages are nobody else's: no share, no lend, no mailbox.
        fw.calls.clear();
        let d = linux_share(Version::V1_2, &[0x8001], &[(0x5000_1000, 1)]);
        share_refused(&proxy, &mut fw, &d, DENIED, "share of a lent page");
        // Reclaim: the SPMC agrees, the pages come back.
        let (outcome, reply) = call(
            &proxy,
            &mut fw,
            &[MEM_RECLAIM, handle & 0xFFFF_FFFF, handle >> 32],
        );
        assert_eq!((outcome, reply), (Outcome::Forwarded, r(&[SUCCESS_32])));
        assert!(
            fw.stage2.view().unmapped.is_empty(),
            "mapped back after RECLAIM"
        );
        let status = proxy.memory_status();
        assert_eq!((status.transactions, status.lent_pages), (0, 0));
        share(&proxy, &mut fw, 2, &ranges);
    }
}

#[test]
fn lent_pages_stay_unmapped_until_the_spmc_agrees_to_reclaim() {
    let (proxy, mut fw) = mapped(2);
    let (_, reply) = lend(&proxy, &mut fw, MEM_LEND_64, &[(0x5000_0000, 2)]);
    let handle = reply[2] | reply[3] << 32;
    fw.script.push_back(r(&[FFA_ERROR, 0, DENIED]));
    let (_, reply) = call(
        &proxy,
        &mut fw,
        &[MEM_RECLAIM, handle & 0xFFFF_FFFF, handle >> 32],
    );
    assert_eq!(reply, r(&[FFA_ERROR, 0, DENIED]));
    assert_eq!(
        fw.stage2.view().unmapped,
        pages(&[(0x5000_0000, 2)]),
        "still the SPMC's"
    );
    assert_eq!(proxy.memory_status().lent_pages, 2);
}

#[test]
fn a_lend_the_spmc_refuses_gives_the_pages_back() {
    let (proxy, mut fw) = mapped(2);
    fw.script.push_back(r(&[FFA_ERROR, 0, INVALID_PARAMETERS]));
    let (outcome, reply) = lend(&proxy, &mut fw, MEM_LEND_64, &[(0x5000_0000, 2)]);
    assert_eq!(outcome, Outcome::Forwarded);
    assert_eq!(reply, r(&[FFA_ERROR, 0, INVALID_PARAMETERS]));
    assert!(fw.stage2.view().unmapped.is_empty());
    assert_eq!(proxy.memory_status().lent_pages, 0);
    share(&proxy, &mut fw, 2, &[(0x5000_0000, 2)]);
}

#[test]
fn a_stage2_failure_refuses_the_lend_and_rolls_back_what_was_unmapped() {
    let (proxy, mut fw) = mapped(2);
    // The second range's stage-2 change fails: the first range is mapped back.
    fw.stage2.view().fails_at = Some(0x5100_0000);
    let d = lend_descriptor(&[(0x5000_0000, 2), (0x5100_0000, 1)]);
    fw.poke(HOST_TX, &d);
    let len = d.len() as u64;
    assert_refused(
        &proxy,
        &mut fw,
        &[MEM_LEND_64, len, len],
        NO_MEMORY,
        "stage 2 refused",
    );
    assert!(fw.stage2.view().unmapped.is_empty(), "rolled back");
    assert_eq!(proxy.memory_status().lent_pages, 0);
}

#[test]
fn lend_attacks_are_refused_with_nothing_unmapped() {
    let (proxy, mut fw) = mapped(2);
    let mut attributes = lend_descriptor(&[(0x5000_0000, 1)]);
    attributes[2] = 0x2f; // a lend to one borrower names no attributes
    fw.poke(HOST_TX, &attributes);
    let len = attributes.len() as u64;
    let lend_call = [MEM_LEND_64, len, len];
    assert_refused(
        &proxy,
        &mut fw,
        &lend_call,
        INVALID_PARAMETERS,
        "attributes",
    );
    for (ranges, code, what) in [
        (
            &[(0x6000_0000u64, 1u32)][..],
            INVALID_PARAMETERS,
            "the carve-out",
        ),
        (&[(HOST_TX, 1)][..], DENIED, "the host's own TX buffer"),
        (
            &[(0x5000_0000, 1), (0x5000_0000, 1)][..],
            DENIED,
            "one page twice",
        ),
    ] {
        let d = lend_descriptor(ranges);
        fw.poke(HOST_TX, &d);
        let len = d.len() as u64;
        assert_refused(&proxy, &mut fw, &[MEM_LEND_64, len, len], code, what);
        assert!(
            fw.stage2.view().unmapped.is_empty(),
            "{what}: nothing unmapped"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Fragmented transactions: FFA_MEM_FRAG_RX / FFA_MEM_FRAG_TX
// ---------------------------------------------------------------------------------------

/// A v1.2 share of `n` one-page constituents, 8 KiB apart from 0x5000_0000.
fn many(n: usize) -> (Vec<u8>, Vec<(u64, u32)>) {
    let ranges: Vec<(u64, u32)> = (0..n as u64)
        .map(|i| (0x5000_0000 + i * 0x2000, 1))
        .collect();
    (linux_share(Version::V1_2, &[0x8001], &ranges), ranges)
}

/// Sends `d` as the host would with fragments ending at `cuts`: the first with
/// MEM_SHARE_64, the rest with FRAG_TX; returns every reply.
fn send_fragments(proxy: &Hyp, fw: &mut Spmc, d: &[u8], cuts: &[usize]) -> Vec<(Outcome, SmcRegs)> {
    let mut replies = Vec::new();
    let mut start = 0;
    let mut handle = 0;
    for (i, &end) in cuts.iter().enumerate() {
        fw.poke(HOST_TX, &d[start..end]);
        let len = (end - start) as u64;
        let (outcome, reply) = if i == 0 {
            call(proxy, fw, &[MEM_SHARE_64, d.len() as u64, len])
        } else {
            call(
                proxy,
                fw,
                &[MEM_FRAG_TX, handle & 0xFFFF_FFFF, handle >> 32, len],
            )
        };
        if reply[0] == MEM_FRAG_RX {
            handle = reply[1] | reply[2] << 32;
        }
        replies.push((outcome, reply));
        start = end;
    }
    replies
}

/// Descriptors whose bytes the proxy validates only in part: with a gap after the header, a
/// gap after the receivers (where a second composite could hide), or v1.2 receivers with
/// implementation-defined bytes (two receivers, so the second's bytes are there too).
fn unvalidated_bytes(ver: Version) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (header, size) = (
        super::descriptor::header_size(ver),
        super::descriptor::emad_size(ver),
    );
    let put = |d: &mut Vec<u8>, at: usize, v: usize| {
        d[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes())
    };
    let ranges = [(0x5000_0000, 1)];
    let mut after_header = linux_share(ver, &[0x8001], &ranges);
    after_header.splice(header..header, [0xa5u8; 16]);
    put(&mut after_header, 32, header + 16);
    put(&mut after_header, header + 16 + 4, header + 16 + size);
    let mut after_receivers = linux_share(ver, &[0x8001], &ranges);
    after_receivers.splice(header + size..header + size, [0xa5u8; 16]);
    put(&mut after_receivers, header + 4, header + size + 16);
    let mut implementation_defined = linux_share(ver, &[0x8001, 0x8002], &ranges);
    if ver == Version::V1_2 {
        implementation_defined[header + 8..header + 24].fill(0xa5);
        implementation_defined[header + size + 8..header + size + 24].fill(0x5a);
    }
    (after_header, after_receivers, implementation_defined)
}

#[test]
fn only_validated_descriptor_bytes_reach_the_spmc() {
    for minor in 0..=2u16 {
        let ver = Version::from_minor(minor).unwrap();
        let (after_header, after_receivers, implementation_defined) = unvalidated_bytes(ver);
        let (proxy, mut fw) = mapped(minor);
        // Gaps: refused, nothing forwarded (v1.0 has no receiver offset, so no first gap).
        if ver != Version::V1_0 {
            share_refused(
                &proxy,
                &mut fw,
                &after_header,
                INVALID_PARAMETERS,
                "header gap",
            );
        }
        share_refused(
            &proxy,
            &mut fw,
            &after_receivers,
            INVALID_PARAMETERS,
            "receiver gap",
        );
        assert!(fw.whole_descriptors.is_empty());
        // Implementation-defined bytes: the share goes through, the SPMC reads zeros.
        let d = implementation_defined;
        fw.poke(HOST_TX, &d);
        let len = d.len() as u64;
        let (outcome, reply) = call(&proxy, &mut fw, &[MEM_SHARE_64, len, len]);
        assert_eq!(outcome, Outcome::Forwarded, "{}", refusal_text(&outcome));
        assert_eq!(reply[0], SUCCESS_32);
        let want = linux_share(ver, &[0x8001, 0x8002], &[(0x5000_0000, 1)]);
        assert_eq!(
            fw.whole_descriptors,
            [want],
            "v1.{minor}: the SPMC read the rebuilt descriptor"
        );
    }
}

#[test]
fn a_first_fragment_with_a_gap_is_refused_and_rebuilt_fragments_reach_the_spmc() {
    let (proxy, mut fw) = mapped(2);
    let (d, _) = many(300);
    // The same transaction with 16 bytes between the receiver and the composite.
    let mut gap = d.clone();
    gap.splice(80..80, [0xa5u8; 16]);
    gap[52..56].copy_from_slice(&96u32.to_le_bytes());
    let first = 48 + 32 + 16 + 16 + 200 * 16;
    fw.poke(HOST_TX, &gap[..first]);
    assert_refused(
        &proxy,
        &mut fw,
        &[MEM_SHARE_64, gap.len() as u64, first as u64],
        INVALID_PARAMETERS,
        "first fragment with a gap",
    );
    // The canonical transaction with implementation-defined bytes in its first fragment:
    // the SPMC assembles the rebuilt descriptor.
    let mut impdef = d.clone();
    impdef[56..72].fill(0xa5);
    let first = 48 + 32 + 16 + 200 * 16;
    let replies = send_fragments(&proxy, &mut fw, &impdef, &[first, d.len()]);
    assert_eq!(
        replies[1].1[0],
        SUCCESS_32,
        "{}",
        refusal_text(&replies[1].0)
    );
    assert_eq!(fw.whole_descriptors, std::slice::from_ref(&d));
}

#[test]
fn a_fragmented_share_reaches_the_spmc_whole_and_checked() {
    let (proxy, mut fw) = mapped(2);
    // 300 constituents: 4 896 bytes, more than one 4 KiB TX buffer.
    let (d, ranges) = many(300);
    let first = 48 + 32 + 16 + 200 * 16;
    let replies = send_fragments(&proxy, &mut fw, &d, &[first, d.len()]);
    assert_eq!(
        replies[0].1[0],
        MEM_FRAG_RX,
        "the SPMC's FRAG_RX reaches the host: {}",
        refusal_text(&replies[0].0)
    );
    assert_eq!(replies[0].1[3], first as u64, "offset of the next fragment");
    let handle = replies[0].1[1] | replies[0].1[2] << 32;
    assert_eq!(
        replies[1].0,
        Outcome::Forwarded,
        "{}",
        refusal_text(&replies[1].0)
    );
    assert_eq!(
        replies[1].1,
        r(&[SUCCESS_32, 0, handle & 0xFFFF_FFFF, handle >> 32])
    );
    assert_eq!(
        fw.whole_descriptors,
        std::slice::from_ref(&d),
        "the SPMC assembled the host's descriptor"
    );
    assert_eq!(fw.shares[&handle], ranges);
    assert_eq!(
        fw.calls.iter().map(|c| c[0]).collect::<Vec<_>>(),
        [MEM_SHARE_64, MEM_FRAG_TX]
    );
    assert_eq!(fw.calls[1][4], 0, "w4 (sender) zero");
    let status = proxy.memory_status();
    assert_eq!((status.transactions, status.shared_pages), (1, 300));
    // Reclaim returns all 300 pages.
    let (outcome, _) = call(
        &proxy,
        &mut fw,
        &[MEM_RECLAIM, handle & 0xFFFF_FFFF, handle >> 32],
    );
    assert_eq!(outcome, Outcome::Forwarded);
    assert_eq!(proxy.memory_status().shared_pages, 0);
}

#[test]
fn a_bad_later_fragment_aborts_the_transaction_with_reclaim() {
    for (what, edit, code) in [
        ("the carve-out", 0x6000_0000u64, INVALID_PARAMETERS),
        ("a page of the first fragment", 0x5000_0000, DENIED),
        ("unaligned", 0x5000_0800, INVALID_PARAMETERS),
    ] {
        let (proxy, mut fw) = mapped(2);
        let (mut d, _) = many(4);
        let first = 48 + 32 + 16 + 2 * 16;
        // The last constituent names `edit`.
        let last = d.len() - 16;
        d[last..last + 8].copy_from_slice(&edit.to_le_bytes());
        let replies = send_fragments(&proxy, &mut fw, &d, &[first, d.len()]);
        assert_eq!(replies[0].1[0], MEM_FRAG_RX, "{what}");
        assert!(
            matches!(replies[1].0, Outcome::Rejected(_)),
            "{what}: {:?}",
            replies[1].0
        );
        assert_eq!(replies[1].1, r(&[FFA_ERROR, 0, code]), "{what}");
        let sent: Vec<u64> = fw.calls.iter().map(|c| c[0]).collect();
        assert_eq!(
            sent,
            [MEM_SHARE_64, MEM_RECLAIM],
            "{what}: aborted, the bad fragment not sent"
        );
        let status = proxy.memory_status();
        assert_eq!(
            (status.transactions, status.shared_pages),
            (0, 0),
            "{what}: all back"
        );
        share(&proxy, &mut fw, 2, &[(0x5000_0000, 1)]);
    }
}

#[test]
fn fragment_rules_are_enforced() {
    let (proxy, mut fw) = mapped(2);
    let (d, _) = many(4);
    let first = 48 + 32 + 16 + 2 * 16;
    // FRAG_TX without a transaction: refused, nothing forwarded.
    assert_refused(
        &proxy,
        &mut fw,
        &[MEM_FRAG_TX, 1, 0, 16],
        INVALID_PARAMETERS,
        "no transaction",
    );
    // A first fragment that ends inside a constituent: refused before the SPMC sees it.
    fw.poke(HOST_TX, &d[..first - 8]);
    let (total, cut) = (d.len() as u64, (first - 8) as u64);
    assert_refused(
        &proxy,
        &mut fw,
        &[MEM_SHARE_64, total, cut],
        INVALID_PARAMETERS,
        "mid-constituent",
    );
    // A real one; then a FRAG_TX with a wrong handle is refused without breaking it.
    let replies = send_fragments(&proxy, &mut fw, &d, &[first]);
    let handle = replies[0].1[1] | replies[0].1[2] << 32;
    fw.calls.clear();
    let wrong = handle + 1;
    assert_refused(
        &proxy,
        &mut fw,
        &[MEM_FRAG_TX, wrong & 0xFFFF_FFFF, wrong >> 32, 32],
        INVALID_PARAMETERS,
        "wrong handle",
    );
    // A second fragmented transaction meanwhile: BUSY.
    fw.poke(HOST_TX, &d[..first]);
    assert_refused(
        &proxy,
        &mut fw,
        &[MEM_SHARE_64, total, first as u64],
        BUSY,
        "second transaction",
    );
    // The host reclaiming the incomplete transaction: DENIED.
    assert_refused(
        &proxy,
        &mut fw,
        &[MEM_RECLAIM, handle & 0xFFFF_FFFF, handle >> 32],
        DENIED,
        "reclaim mid-way",
    );
    // The rest: completes.
    fw.poke(HOST_TX, &d[first..]);
    let (outcome, reply) = call(
        &proxy,
        &mut fw,
        &[
            MEM_FRAG_TX,
            handle & 0xFFFF_FFFF,
            handle >> 32,
            (d.len() - first) as u64,
        ],
    );
    assert_eq!(outcome, Outcome::Forwarded, "{}", refusal_text(&outcome));
    assert_eq!(reply[0], SUCCESS_32);
    assert_eq!(proxy.memory_status().shared_pages, 4);
}

#[test]
fn a_fragmented_lend_unmaps_every_fragment_before_forwarding_it() {
    let (proxy, mut fw) = mapped(2);
    let (mut d, ranges) = many(4);
    d[2] = 0; // a lend to one borrower: attributes not specified
    d[3] = 0;
    let first = 48 + 32 + 16 + 2 * 16;
    fw.poke(HOST_TX, &d[..first]);
    let (outcome, reply) = call(
        &proxy,
        &mut fw,
        &[MEM_LEND_64, d.len() as u64, first as u64],
    );
    assert_eq!(outcome, Outcome::Forwarded, "{}", refusal_text(&outcome));
    assert_eq!(reply[0], MEM_FRAG_RX);
    assert_eq!(fw.stage2.view().unmapped, pages(&ranges[..2]));
    let handle = reply[1] | reply[2] << 32;
    fw.poke(HOST_TX, &d[first..]);
    let (_, reply) = call(
        &proxy,
        &mut fw,
        &[
            MEM_FRAG_TX,
            handle & 0xFFFF_FFFF,
            handle >> 32,
            (d.len() - first) as u64,
        ],
    );
    assert_eq!(reply[0], SUCCESS_32);
    assert_eq!(fw.lends_saw_unmapped, [true]);
    assert_eq!(fw.stage2.view().unmapped, pages(&ranges));
    assert_eq!(proxy.memory_status().lent_pages, 4);
}
