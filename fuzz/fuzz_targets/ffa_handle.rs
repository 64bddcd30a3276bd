//! Fuzzes the FF-A proxy: decode + validate (`ffa::validate::check`) and the whole
//! `Proxy::handle` path with a scripted SPMC reply.
//!
//! Input (zero-padded): [0] negotiated minor (mod 3) and flags, [1] function selector,
//! [2..4] SMC immediate, then x0..x17 of the call, then x0..x17 of the SPMC's reply
//! (little-endian u64s). Selector < 0xC0 picks a table row and convention so that most
//! inputs are real FF-A calls; otherwise x0 comes from the input.
//!
//! Invariants: no panic; a call that fails validation never reaches the SPMC; what is
//! forwarded is exactly what `check` rebuilt (a subset of the host's bits, and itself valid);
//! a rejection names a non-zero field.
#![no_main]

use core::fmt::Write;

use ffa_spec::fid;
use hypervisor::ffa::abi::{Conv, Policy, TABLE, Version};
use hypervisor::ffa::validate::{Rule, check};
use hypervisor::ffa::{Outcome, Proxy};
use hypervisor::smccc::SmcRegs;
use hypervisor::testkit::{Spmc, no_memory};
use libfuzzer_sys::fuzz_target;

const FFA_VERSION: u64 = fid::VERSION as u64;
const FFA_FEATURES: u64 = fid::FEATURES as u64;

/// Discards formatted text (exercises `Display` without allocating).
struct Sink;

impl Write for Sink {
    fn write_str(&mut self, _: &str) -> core::fmt::Result {
        Ok(())
    }
}

fn regs_from(bytes: &[u8]) -> SmcRegs {
    let mut regs = [0u64; 18];
    for (r, chunk) in regs.iter_mut().zip(bytes.chunks_exact(8)) {
        *r = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
    }
    regs
}

fuzz_target!(|data: &[u8]| {
    let mut buf = [0u8; 4 + 2 * 18 * 8];
    let n = data.len().min(buf.len());
    buf[..n].copy_from_slice(&data[..n]);

    let minor = u16::from(buf[0] % 3);
    let ver = Version::ALL[usize::from(minor)];
    let imm = if buf[0] & 0x80 != 0 {
        u16::from_le_bytes([buf[2], buf[3]])
    } else {
        0
    };
    let mut call = regs_from(&buf[4..4 + 144]);
    let reply = regs_from(&buf[4 + 144..]);
    if buf[1] < 0xC0 {
        let abi = &TABLE[usize::from(buf[1]) % TABLE.len()];
        let conv = if buf[1] & 0x40 != 0 {
            Conv::Smc64
        } else {
            Conv::Smc32
        };
        let conv = if abi.convs.has(conv) {
            conv
        } else {
            [Conv::Smc32, Conv::Smc64][1 - conv as usize]
        };
        call[0] = u64::from(abi.function_id(conv));
    }

    // Decode + validate on its own.
    let checked = check(ver, &call);
    match checked {
        Some(Ok(out)) => {
            for i in 1..18 {
                assert_eq!(
                    out[i] & !call[i],
                    0,
                    "rebuilt x{i} has bits the host did not send"
                );
            }
            assert_eq!(
                check(ver, &out),
                Some(Ok(out)),
                "rebuilt set is not a fixed point"
            );
        }
        Some(Err(v)) => {
            assert!((1..=17).contains(&v.reg), "violation names x{}", v.reg);
            // Only a must-be-one rule can fail on a zero field (a Secure endpoint ID of 0).
            assert!(
                v.value != 0 || v.rule == Rule::NotSecure,
                "violation names a zero field: {v}"
            );
            let _ = write!(Sink, "{v}");
        }
        None => {}
    }

    // The whole path.
    // The kit's SPMC: answers probing like a v1.2 SPMC, then with the fuzzed reply; records
    // what it received. No memory: the mailbox and memory ABIs answer NOT_SUPPORTED, and
    // touching memory would be a bug (the kit panics).
    let mut spmc = Spmc::replying(reply, false);
    let proxy = Proxy::probe(&mut spmc, 0x1_0002);
    let mut v = [0u64; 18];
    v[0] = FFA_VERSION;
    v[1] = 0x1_0000 | u64::from(minor);
    let _ = proxy.handle(&mut v, 0, no_memory(), &mut spmc);
    spmc.calls.clear();

    let mut io = call;
    let outcome = proxy.handle(&mut io, imm, no_memory(), &mut spmc);
    if let Some(rec) = outcome.rejection() {
        let _ = write!(Sink, "{rec}");
    }
    let row = TABLE.iter().find(|a| {
        [Conv::Smc32, Conv::Smc64]
            .into_iter()
            .any(|c| a.convs.has(c) && u64::from(a.function_id(c)) == call[0] & !(1 << 16))
    });
    match outcome {
        Outcome::Rejected(_) | Outcome::Unsupported | Outcome::Busy => {
            let own_version_query = row.is_some_and(|a| a.number == 0x63);
            assert!(
                spmc.calls.is_empty() || own_version_query,
                "refused call reached the SPMC: {:#x?}",
                spmc.calls
            );
        }
        Outcome::Forwarded | Outcome::ReplyRefused(_) => {
            assert_eq!(spmc.calls.len(), 1);
            let sent = spmc.calls[0];
            let abi = row.expect("forwarded an unknown ID");
            // Forwarded rows, and the rows handled for their state then forwarded as
            // validated (the notification bitmap's, FFA_RUN to a recorded vCPU,
            // NOTIFICATION_INFO_GET whose reply is read), send exactly the checked set.
            if abi.policy == Policy::Forward || matches!(abi.number, 0x6D | 0x7D | 0x7E | 0x83) {
                assert_eq!(imm, 0);
                assert_eq!(
                    checked,
                    Some(Ok(sent)),
                    "forwarded set differs from check()"
                );
            } else {
                // FFA_FEATURES forwards FEATURES(w1) and nothing else.
                assert_eq!(sent[0], FFA_FEATURES);
                assert!(sent[2..].iter().all(|&x| x == 0));
            }
        }
        Outcome::Emulated => {}
    }
    // An FFA_ERROR reply carries only w1/w2.
    if io[0] == u64::from(fid::ERROR) {
        assert!(io[1] >> 32 == 0 && io[2] >> 32 == 0 && io[3..8].iter().all(|&x| x == 0));
    }
});
