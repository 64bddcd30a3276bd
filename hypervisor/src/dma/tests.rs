//! The DMA policy on the board fixtures.

use super::*;
use alloc::string::ToString;

const QEMU: &[u8] = include_bytes!("../../../tests/fixtures/qemu-virt-tfa-optee.dtb");
const JUNO_R2: &[u8] = include_bytes!("../../../tests/fixtures/juno-r2.dtb");
const RDN2: &[u8] = include_bytes!("../../../tests/fixtures/rdn2-fvp.dtb");

#[test]
fn dump() {
    for blob in [QEMU, JUNO_R2, RDN2] {
        let p = DmaPolicy::classify(blob, &DmaOptions::default()).unwrap();
        for d in &p.decisions {
            std::println!("{d}");
        }
        std::println!("----");
    }
    let _ = "".to_string();
}
