//! Property tests against the test kit's SPMC: random x0..x17 (and random SPMC replies) for every known and for unknown
//! function IDs. The oracle is the hand-written layout in `tests.rs` (`SPECS`,
//! `BLOCKED_IDS`), never the production table.
//!
//! Properties: no panic; nothing is forwarded unless the oracle says the call is valid;
//! every valid forwarded call is forwarded exactly as its layout says (so never a register
//! outside the schema); replies the host sees carry nothing in undefined registers.

use proptest::prelude::*;
use proptest::test_runner::Config;

use super::tests::{BLOCKED_IDS, MEMORY_IDS, SPECS, Spec, create_bitmap, proxy_at, r};
use super::{Outcome, Proxy};
use crate::smccc::SmcRegs;
use crate::testkit::Spmc;
use ffa_spec::fid;

const FFA_ERROR: u64 = fid::ERROR as u64;
const FFA_VERSION: u64 = fid::VERSION as u64;
const FFA_FEATURES: u64 = fid::FEATURES as u64;
const BITMAP_DESTROY: u64 = fid::NOTIFICATION_BITMAP_DESTROY as u64;
const NOTIF_SET: u64 = fid::NOTIFICATION_SET as u64;
const FFA_RUN: u64 = fid::RUN as u64;

/// Function IDs to try: the layouts' IDs, the blocked ones, the emulated ones, hinted and
/// malformed variants, and random ones inside and outside the FF-A range.
fn function_id() -> impl Strategy<Value = u64> {
    let validated: Vec<u64> = SPECS.iter().map(|s| s.id).collect();
    let other: Vec<u64> = BLOCKED_IDS
        .iter()
        .chain(MEMORY_IDS)
        .map(|b| b.0)
        .chain([FFA_VERSION])
        .collect();
    prop_oneof![
        8 => proptest::sample::select(validated.clone()),
        3 => proptest::sample::select(other),
        1 => proptest::sample::select(validated).prop_map(|id| id | 1 << 16),
        1 => (0x60u64..=0xFF, any::<bool>()).prop_map(|(n, wide)| {
            0x8400_0000 | if wide { 0x4000_0000 } else { 0 } | n
        }),
        1 => any::<u32>().prop_map(u64::from),
        1 => any::<u64>(),
    ]
}

/// A whole call: x0 from `function_id`; x1..x17 either fully random, or confined to the
/// layout of x0 (valid when the layout is known), or confined and then broken in one bit or
/// one register, so that valid calls and near misses are both common.
fn call() -> impl Strategy<Value = SmcRegs> {
    (
        function_id(),
        any::<[u64; 17]>(),
        prop_oneof![1 => Just(0u8), 3 => Just(1u8), 2 => Just(2u8), 1 => Just(3u8)],
        prop_oneof![2 => 1usize..=2, 1 => 1usize..=7, 1 => 1usize..=17],
        0u32..64,
        any::<u64>(),
    )
        .prop_map(|(id, random, mode, reg, bit, junk)| {
            let carried = spec_of(id).map_or([u64::MAX; 17], |s| s.carried);
            let mut regs = [0; 18];
            regs[0] = id;
            for ((x, r), c) in regs[1..].iter_mut().zip(random).zip(carried) {
                *x = if mode == 0 { r } else { r & c };
            }
            match mode {
                // Set one bit the layout forbids (the nearest miss there is).
                2 => {
                    let forbidden = !carried[reg - 1];
                    if forbidden != 0 {
                        let k = bit % forbidden.count_ones();
                        let mut f = forbidden;
                        for _ in 0..k {
                            f &= f - 1;
                        }
                        regs[reg] |= 1 << f.trailing_zeros();
                    }
                }
                3 => regs[reg] = junk,
                _ => {}
            }
            regs
        })
}

fn spec_of(id: u64) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.id == id)
}

/// The oracle: would a strict proxy at v1.`minor` accept `regs` for `spec`?
fn valid(spec: &Spec, minor: u16, regs: &SmcRegs) -> bool {
    if minor < spec.since {
        return false;
    }
    let checked = if minor >= 2 { 17 } else { 7 };
    let fields_ok = (1..=checked).all(|i| regs[i] & !spec.carried[i - 1] == 0);
    // FFA_NOTIFICATION_SET: the vCPU ID needs the per-vCPU flag.
    let set_ok = spec.id != NOTIF_SET || regs[2] & 1 != 0 || regs[2] & 0xFFFF_0000 == 0;
    // The peer must be a Secure endpoint (bit 15 of its ID): the receiver of a direct
    // request, the target of FFA_RUN, the sender of BIND/UNBIND, the receiver of SET.
    let peer_ok = regs[1] & spec.ones == spec.ones;
    fields_ok && set_ok && peer_ok
}

/// What the SPMC must receive for a valid call of `spec`.
fn expected_forward(minor: u16, regs: &SmcRegs) -> SmcRegs {
    let mut out = *regs;
    if minor < 2 {
        out[8..].fill(0);
    }
    out
}

/// 4096 cases take well under a second; `PROPTEST_CASES=1000000` for a long run.
fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_calls_never_panic_and_forward_only_valid_calls_exactly(
        minor in 0u16..=2,
        regs in call(),
        imm in prop_oneof![7 => Just(0u16), 1 => any::<u16>()],
        reply in any::<[u64; 18]>(),
        primed in any::<bool>(),
    ) {
        let (proxy, _) = proxy_at(minor);
        // FFA_RUN is forwarded only to a target the proxy saw preempted (D-RUN-STATE).
        let is_run = regs[0] as u32 & !(1 << 16) == FFA_RUN as u32;
        if is_run && primed {
            proxy.allow_run(regs[1]);
        }
        let mut spmc = Spmc { always: Some(reply), ..Spmc::new() };
        // DESTROY is forwarded only when the bitmap exists: create it first.
        let created = spec_of(regs[0]).is_some_and(|s| s.id == BITMAP_DESTROY) && minor >= 1;
        if created {
            create_bitmap(&proxy);
        }
        let mut io = regs;
        let outcome = proxy.handle(&mut io, imm, crate::testkit::no_memory(), &mut spmc);

        let id = regs[0];
        let hygienic = imm == 0 && id >> 32 == 0;
        match spec_of(id) {
            Some(spec) if spec.forwarded => {
                let ok = hygienic && valid(spec, minor, &regs) && (spec.id != FFA_RUN || primed);
                prop_assert_eq!(
                    !spmc.calls.is_empty(), ok,
                    "{} at v1.{}: forwarded={} but oracle says valid={}; x0..x17 = {:#x?}",
                    spec.name, minor, !spmc.calls.is_empty(), ok, regs
                );
                if ok {
                    prop_assert_eq!(spmc.calls.len(), 1);
                    prop_assert_eq!(spmc.calls[0], expected_forward(minor, &regs),
                        "{} at v1.{}: forwarded registers outside the layout", spec.name, minor);
                }
            }
            Some(spec) if spec.id == FFA_FEATURES => {
                // Forwarded only as FEATURES(w1) with nothing else, and only if valid.
                if let Some(out) = spmc.calls.first() {
                    prop_assert!(hygienic && valid(spec, minor, &regs));
                    prop_assert_eq!(*out, r(&[FFA_FEATURES, regs[1]]));
                    let sel = regs[1];
                    let forwarded_ids: Vec<u64> =
                        SPECS.iter().filter(|s| s.forwarded && s.since <= minor).map(|s| s.id).collect();
                    prop_assert!(
                        forwarded_ids.contains(&sel) || (minor >= 1 && (sel == 1 || sel == 2)),
                        "FEATURES({:#x}) forwarded at v1.{}", sel, minor
                    );
                }
            }
            _ => {
                // Blocked, emulated, unknown or malformed: the only SMC allowed is the
                // proxy's own FFA_VERSION(1.0/1.1) when the host asks for a downgrade.
                for out in &spmc.calls {
                    prop_assert!(
                        out[0] == FFA_VERSION && out[1] <= 0x1_0001 && out[2..] == [0; 16],
                        "x0 {:#x} reached the SPMC as {:#x?}", id, out
                    );
                }
            }
        }

        // Whatever happened, an FFA_ERROR reply carries only w1/w2.
        if io[0] == FFA_ERROR {
            prop_assert!(io[1] <= 0xFFFF_FFFF && io[2] <= 0xFFFF_FFFF);
            prop_assert_eq!(&io[3..8], &[0u64; 5][..]);
        }
        // A rejected or unsupported call has no reply data from the SPMC.
        if matches!(outcome, Outcome::Rejected(_) | Outcome::Unsupported) {
            prop_assert!(spmc.calls.is_empty() || regs[0] as u32 & !(1 << 16) == FFA_VERSION as u32);
        }
        // The counters agree with the conduit.
        prop_assert_eq!(
            proxy.counters().total().forwarded as usize - usize::from(created),
            spmc.calls.iter().filter(|f| f[0] != FFA_VERSION).count()
        );
    }

    #[test]
    fn a_disabled_proxy_never_forwards(regs in call(), imm in any::<u16>()) {
        let proxy = Proxy::disabled();
        let mut spmc = Spmc::new();
        let mut io = regs;
        let _ = proxy.handle(&mut io, imm, crate::testkit::no_memory(), &mut spmc);
        prop_assert!(spmc.calls.is_empty());
        prop_assert_eq!(io[0], u64::MAX);
    }
}

/// A proxy at v1.2 whose negotiation has settled (one `FFA_ID_GET`), so that the fast path's
/// table is published; with per-CPU counters of its own attached.
fn settled_proxy(per_cpu: bool) -> Proxy {
    let (proxy, mut spmc) = proxy_at(2);
    let mut regs = r(&[u64::from(fid::ID_GET)]);
    let _ = proxy.handle(&mut regs, 0, crate::testkit::no_memory(), &mut spmc);
    if per_cpu {
        proxy
            .counters()
            .attach(Box::leak(Box::new(super::audit::CpuCounts::new())) as &'static _);
    }
    proxy
}

/// An SPMC reply: one the fast path expects, an error, SMCCC NOT_SUPPORTED, or anything.
fn spmc_reply() -> impl Strategy<Value = SmcRegs> {
    let x0s: Vec<u64> = [
        fid::MSG_SEND_DIRECT_RESP_32,
        fid::MSG_SEND_DIRECT_RESP_64,
        fid::SUCCESS_32,
        fid::SUCCESS_64,
        fid::ERROR,
        fid::MSG_SEND_DIRECT_RESP2,
        fid::INTERRUPT,
        0xFFFF_FFFF,
    ]
    .iter()
    .map(|&x| u64::from(x))
    .chain([u64::MAX, 0])
    .collect();
    (
        prop_oneof![6 => proptest::sample::select(x0s), 1 => any::<u64>()],
        any::<[u64; 18]>(),
        prop_oneof![1 => Just(None), 1 => Just(Some(0xFFFF_FFFFu64)), 1 => Just(Some(0xFFFF_FFFE))],
    )
        .prop_map(|(x0, mut regs, w2)| {
            regs[0] = x0;
            if let Some(w2) = w2 {
                regs[2] = w2;
            }
            regs
        })
}

/// `FFA_FEATURES` of a function the layouts know (sometimes with the call hint or junk).
fn features_call() -> impl Strategy<Value = SmcRegs> {
    let ids: Vec<u64> = SPECS.iter().map(|s| s.id).collect();
    (
        proptest::sample::select(ids),
        prop_oneof![6 => Just(0u64), 1 => Just(1 << 16), 1 => any::<u64>()],
        prop_oneof![6 => Just(0u64), 1 => any::<u64>()],
    )
        .prop_map(|(id, junk, x2)| r(&[FFA_FEATURES, id ^ junk, x2]))
}

/// What the proxy would answer to `FFA_FEATURES(id)`: the learned state, compared.
fn features_of(proxy: &Proxy, id: u64) -> SmcRegs {
    let mut regs = r(&[FFA_FEATURES, id & !(1 << 16)]);
    let _ = proxy.handle(&mut regs, 0, crate::testkit::no_memory(), &mut Spmc::new());
    regs
}

proptest! {
    #![proptest_config(config())]

    /// The trap vector's fast path (`super::fast::model`, its code in Rust) and the general
    /// path agree on every call: the same SMC forwarded or none, the same reply to the host,
    /// the same audit counts and the same learned state; and the fast path takes the hot
    /// calls itself.
    #[test]
    fn the_fast_path_agrees_with_the_general_path(
        regs in prop_oneof![3 => call(), 1 => features_call()],
        refused in proptest::option::of(proptest::sample::select(
            SPECS.iter().filter(|s| s.forwarded).map(|s| s.id).collect::<Vec<u64>>()
        )),
        imm in prop_oneof![7 => Just(0u16), 1 => any::<u16>()],
        reply in spmc_reply(),
        quiet in any::<bool>(),
        cpu in 0usize..crate::budget::MAX_CPUS,
    ) {
        let general = settled_proxy(false);
        let fast = settled_proxy(true);
        // The SPMC refused one function already (D-FEATURES-LEARNED), on both.
        if let Some(id) = refused {
            let spec = spec_of(id).expect("a layout");
            for proxy in [&general, &fast] {
                let mut call = r(&[id]);
                call[1] = spec.ones;
                let mut spmc = Spmc::replying(r(&[FFA_ERROR, 0, 0xFFFF_FFFF]), false);
                let _ = proxy.handle(&mut call, 0, crate::testkit::no_memory(), &mut spmc);
            }
        }
        let table = fast.fast_table().expect("settled at v1.2");
        let per_cpu = fast.counters().per_cpu().expect("attached");
        let no_memory = crate::testkit::no_memory();

        let mut spmc_g = Spmc { always: Some(reply), ..Spmc::new() };
        let mut io_g = regs;
        let out_g = general.handle_explained(&mut io_g, imm, no_memory, &mut spmc_g, || !quiet);

        let mut spmc_f = Spmc { always: Some(reply), ..Spmc::new() };
        let mut io_f = regs;
        let learned = fast.spmc_refused_bitmap();
        let took =
            super::fast::model(table, per_cpu, learned, cpu, quiet, &mut io_f, imm, &mut spmc_f);
        match took {
            super::fast::Fast::General => {
                let out_f = fast.handle_explained(&mut io_f, imm, no_memory, &mut spmc_f, || !quiet);
                prop_assert_eq!(out_f, out_g);
            }
            super::fast::Fast::Finish(x0) => {
                prop_assert_eq!(x0, regs[0]);
                let out_f = fast.fast_finish(&mut io_f, x0);
                prop_assert_eq!(out_f, out_g);
            }
            super::fast::Fast::Done => {
                prop_assert!(matches!(out_g, Outcome::Forwarded | Outcome::Emulated), "{:?}", out_g);
            }
            super::fast::Fast::Rejected => {
                prop_assert!(quiet);
                prop_assert!(matches!(out_g, Outcome::Rejected(_)), "{:?}", out_g);
            }
        }
        prop_assert_eq!(io_f, io_g, "x0..x17 = {:#x?}, reply {:#x?}, fast path {:?}", regs, reply, took);
        prop_assert_eq!(&spmc_f.calls, &spmc_g.calls);
        let a: Vec<_> = fast.counters().iter().collect();
        let b: Vec<_> = general.counters().iter().collect();
        prop_assert_eq!(a, b);
        prop_assert_eq!(fast.counters().unknown(), general.counters().unknown());
        prop_assert_eq!(fast.counters().total(), general.counters().total());
        // The vector hands FFA_INTERRUPT and FFA_YIELD replies to Rust: both proxies record
        // the same resumable vCPUs (D-RUN-STATE).
        prop_assert_eq!(fast.runnable_snapshot(), general.runnable_snapshot());
        prop_assert_eq!(features_of(&fast, regs[0]), features_of(&general, regs[0]));
    }
}

/// The hot calls of the bench take the fast path, forwarded or answered without Rust.
#[test]
fn the_hot_calls_take_the_fast_path() {
    let proxy = settled_proxy(true);
    let table = proxy.fast_table().expect("settled at v1.2");
    let per_cpu = proxy.counters().per_cpu().expect("attached");
    let learned = proxy.spmc_refused_bitmap();
    let direct_resp = r(&[
        u64::from(fid::MSG_SEND_DIRECT_RESP_32),
        0x8001_0000,
        0,
        0,
        1,
    ]);
    for (call, reply) in [
        (
            r(&[u64::from(fid::MSG_SEND_DIRECT_REQ_32), 0x8001, 0, 0, 7]),
            direct_resp,
        ),
        (
            r(&[u64::from(fid::MSG_SEND_DIRECT_REQ_64), 0x8001, 0, 0, 7]),
            direct_resp,
        ),
        (r(&[u64::from(fid::ID_GET)]), [0; 18]),
    ] {
        let mut spmc = Spmc::replying(reply, false);
        let mut io = call;
        let took = super::fast::model(table, per_cpu, learned, 1, true, &mut io, 0, &mut spmc);
        assert_eq!(took, super::fast::Fast::Done, "{:#x}", call[0]);
    }
    let counts = proxy
        .counters()
        .get(fid::MSG_SEND_DIRECT_REQ_32)
        .expect("known");
    assert_eq!(counts.forwarded, 1);
    // FFA_FEATURES of a function forwarded on the fast path: forwarded there too; once the
    // SPMC refused that function, the general path answers.
    let features = r(&[FFA_FEATURES, u64::from(fid::MSG_SEND_DIRECT_REQ_32)]);
    let success = r(&[u64::from(fid::SUCCESS_32), 0, 0, 0]);
    let mut io = features;
    let mut spmc = Spmc::replying(success, false);
    let took = super::fast::model(table, per_cpu, learned, 0, true, &mut io, 0, &mut spmc);
    assert_eq!(took, super::fast::Fast::Done);
    assert_eq!(spmc.calls, [features]);
    let mut io = r(&[u64::from(fid::MSG_SEND_DIRECT_REQ_32), 0x8001]);
    let mut spmc = Spmc::replying(r(&[FFA_ERROR, 0, 0xFFFF_FFFF]), false);
    let took = super::fast::model(table, per_cpu, learned, 0, true, &mut io, 0, &mut spmc);
    assert_eq!(
        took,
        super::fast::Fast::Finish(u64::from(fid::MSG_SEND_DIRECT_REQ_32))
    );
    let _ = proxy.fast_finish(&mut io, u64::from(fid::MSG_SEND_DIRECT_REQ_32));
    let mut io = features;
    let took = super::fast::model(
        table,
        per_cpu,
        learned,
        0,
        true,
        &mut io,
        0,
        &mut Spmc::new(),
    );
    assert_eq!(
        took,
        super::fast::Fast::General,
        "learned: NOT_SUPPORTED from Rust"
    );
    // FFA_VERSION once settled: the settled version for 1.2 and later, else NOT_SUPPORTED;
    // fields outside the v1.0 schema go to the general path.
    let general = settled_proxy(false);
    for (w1, vector) in [
        (0x1_0002u64, Some(0x1_0002u64)),
        (0x1_0005, Some(0x1_0002)),
        (0x1_0001, Some(u64::MAX)),
        (0x2_0002, Some(u64::MAX)),
        (0x8001_0002, None),
    ] {
        let call = r(&[FFA_VERSION, w1]);
        let mut io = call;
        let took = super::fast::model(
            table,
            per_cpu,
            learned,
            0,
            true,
            &mut io,
            0,
            &mut Spmc::new(),
        );
        let mut expected = call;
        let _ = general.handle(
            &mut expected,
            0,
            crate::testkit::no_memory(),
            &mut Spmc::new(),
        );
        match vector {
            Some(w0) => {
                assert_eq!(took, super::fast::Fast::Done, "{w1:#x}");
                assert_eq!(io[0], w0, "{w1:#x}");
                assert_eq!(io, expected, "{w1:#x}");
            }
            None => assert_eq!(took, super::fast::Fast::General, "{w1:#x}"),
        }
    }
    // A quiet rejection: NOTIFICATION_SET with a sender other than the host.
    let mut io = r(&[NOTIF_SET, 1 << 16 | 0x8001]);
    let took = super::fast::model(
        table,
        per_cpu,
        learned,
        0,
        true,
        &mut io,
        0,
        &mut Spmc::new(),
    );
    assert_eq!(took, super::fast::Fast::Rejected);
    assert_eq!(io[0], FFA_ERROR);
    let counts = proxy.counters().get(fid::NOTIFICATION_SET).expect("known");
    assert_eq!(counts.rejected, 1);
}

/// The vector never answers an FFA_INTERRUPT or FFA_YIELD reply itself: no fast entry expects
/// either, FFA_RUN and FFA_NOTIFICATION_INFO_GET are not on the fast path, and a direct
/// request the vector forwarded whose answer is FFA_INTERRUPT is finished in Rust, which
/// records the vCPU for FFA_RUN (D-RUN-STATE).
#[test]
fn the_vector_hands_preemption_replies_to_rust() {
    use super::fast::{FAST_TABLE, Fast, INDEX_STRIDE, model};
    for e in &FAST_TABLE.entries {
        for (want, _) in e.expect {
            assert!(
                want != u64::from(fid::INTERRUPT) && want != u64::from(fid::YIELD),
                "a fast entry expects {want:#x}"
            );
        }
    }
    for id in [
        fid::RUN,
        fid::NOTIFICATION_INFO_GET_32,
        fid::NOTIFICATION_INFO_GET_64,
    ] {
        let conv = (id >> 30 & 1) as usize;
        assert_eq!(
            FAST_TABLE.index[conv * INDEX_STRIDE + (id & 0xFF) as usize],
            0,
            "{id:#x} on the fast path"
        );
    }
    let proxy = settled_proxy(true);
    let table = proxy.fast_table().expect("settled at v1.2");
    let per_cpu = proxy.counters().per_cpu().expect("attached");
    let learned = proxy.spmc_refused_bitmap();
    for (reply, w1) in [
        (r(&[u64::from(fid::INTERRUPT), 0x8001_0002, 7]), 0x8001_0002),
        (r(&[u64::from(fid::YIELD), 0x8001_0003, 0, 0]), 0x8001_0003),
    ] {
        let req = u64::from(fid::MSG_SEND_DIRECT_REQ_64);
        let mut io = r(&[req, 0x8001, 0, 0, 7]);
        let mut spmc = Spmc::replying(reply, false);
        let took = model(table, per_cpu, learned, 0, true, &mut io, 0, &mut spmc);
        assert_eq!(took, Fast::Finish(req), "{:#x}", reply[0]);
        assert!(!proxy.may_run(w1));
        let _ = proxy.fast_finish(&mut io, req);
        assert_eq!(io[..2], reply[..2]);
        assert!(proxy.may_run(w1), "{:#x} recorded", reply[0]);
    }
    // FFA_RUN itself goes to the general path, which forwards it once.
    let mut io = r(&[FFA_RUN, 0x8001_0002]);
    let took = model(
        table,
        per_cpu,
        learned,
        0,
        true,
        &mut io,
        0,
        &mut Spmc::new(),
    );
    assert_eq!(took, Fast::General);
}
