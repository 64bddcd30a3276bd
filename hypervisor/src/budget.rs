//! Every fixed budget of the hypervisor in one place (pKVM keeps its own in `kvm_pkvm.h`).
//!
//! Nothing on a path the host can drive allocates beyond what these reserve at boot: a
//! request that would need more is refused with the error its ABI names (FF-A NO_MEMORY,
//! PSCI INVALID_PARAMETERS) and the hypervisor keeps serving. Sizes that the assembly or
//! the linker script repeat say so; the build checks them where it can.

/// The hypervisor's carve-out: image, BSS (stacks, mailbox pages) and heap. Must match
/// `__carveout_size` in `boot/image.ld` (the Image header's `image_size`).
pub const CARVEOUT_SIZE: u64 = 0x20_0000;

/// CPUs the hypervisor can run on (RD-N2 has up to 16). Each has a stack, a warm-boot
/// context and an entry frame in BSS.
pub const MAX_CPUS: usize = 16;

/// EL2 stack per CPU; must match `HYP_STACK_SIZE` in `boot/src/entry.S`.
pub const STACK_SIZE: usize = 0x4000;

/// Largest DTB accepted at boot (QEMU pads its DTB to 1 MiB; only the used part is copied).
pub const MAX_DTB: usize = 0x20_0000;

/// Size of every FF-A mailbox buffer (the host's and the hypervisor's): one 4 KiB page.
pub const MAILBOX_SIZE: usize = 4096;

/// Live FF-A memory transactions (SHARE/LEND handles) the host may hold at once.
pub const MAX_TRANSACTIONS: usize = 256;

/// Pages in the host stage-2 table pool, reserved from the heap when the tables are built
/// at boot (512 KiB; see `mm/pool.rs`). Every table of the host stage 2 comes from it: the
/// boot map's (6 on QEMU's virt board) and those a LEND splits blocks into (one per 2 MiB
/// block it cuts, one more per 1 GiB block). A LEND whose worst case the free pages cannot
/// cover is refused with NO_MEMORY before anything changes; tables come back when their
/// block is folded again.
pub const STAGE2_TABLE_PAGES: usize = 128;

/// Runs in the page-ownership map (its fixed capacity; see `mm/ownership.rs`).
pub const OWNERSHIP_RUNS: usize = 1024;

/// (Secure partition, vCPU) pairs the FF-A proxy remembers as resumable with FFA_RUN
/// (D-RUN-STATE, `ffa/run_state.rs`): eight partitions on every CPU, 8 bytes each. A pair
/// that finds the table full is not remembered, so the host's FFA_RUN of it is DENIED.
pub const RUN_STATES: usize = 8 * MAX_CPUS;

/// Receivers accepted in one FF-A memory transaction.
pub const MAX_RECEIVERS: usize = 4;

/// Constituents (address ranges) accepted in one FF-A memory transaction, over all its
/// fragments; one 4 KiB fragment holds about 250.
pub const MAX_CONSTITUENTS: usize = 512;

/// The largest transaction descriptor accepted (v1.1+ header of 48 bytes,
/// [`MAX_RECEIVERS`] v1.2 receivers of 32 bytes, the 16-byte composite, [`MAX_CONSTITUENTS`]
/// constituents of 16 bytes): 8 384 bytes, three fragments of the 4 KiB TX buffer at most.
/// NO_MEMORY beyond.
pub const MAX_DESCRIPTOR: usize = 48 + MAX_RECEIVERS * 32 + 16 + MAX_CONSTITUENTS * 16;

/// Stream table entries (64 bytes each) of a linear stream table, for an SMMU without
/// 2-level tables: stream IDs 0..256, the devices of PCI bus 0 on QEMU's virt board (stream
/// ID = requester ID). A 16 KiB table; stream IDs beyond it are refused by the SMMU (see
/// `smmu/ste.rs`).
pub const SMMU_STREAMS: usize = 256;

/// log2 of the stream IDs one level-2 stream table covers (STRTAB_BASE_CFG.SPLIT; the
/// architecture allows 6, 8 or 10): 256 STEs, 16 KiB, one PCI bus.
pub const SMMU_STRTAB_SPLIT: u32 = 8;

/// Level-2 stream tables built at boot when the SMMU has 2-level stream tables, for the
/// first spans of 2^[`SMMU_STRTAB_SPLIT`] stream IDs the DT names (buses 0-7 on QEMU's virt
/// board): 128 KiB of heap. Streams in the other spans have no level-2 table and abort.
pub const SMMU_L2_TABLES: usize = 8;

/// The largest level-1 stream table, as log2 of the stream IDs it spans (STRTAB_BASE_CFG.
/// LOG2SIZE): 2^16 stream IDs, 256 level-1 descriptors of 8 bytes (2 KiB).
pub const SMMU_STRTAB_MAX_LOG2: u32 = 16;

/// SMMUv3s the hypervisor drives (each with its own stream table and queues, all
/// invalidated at every change of the host stage 2); a DT with more stops the boot.
pub const MAX_SMMUS: usize = 4;

/// log2 of the SMMU command queue's entries (16 bytes each): 256, one 4 KiB page.
pub const SMMU_CMDQ_LOG2: u32 = 8;

/// log2 of the SMMU event queue's entries (32 bytes each): 128, one 4 KiB page. Events
/// beyond it between two polls are lost and reported as an overflow.
pub const SMMU_EVTQ_LOG2: u32 = 7;

/// Register reads in every wait on the SMMU (CR0ACK, GBPA, CMD_SYNC, queue space) before
/// it counts as a timeout: about a millisecond at real-hardware MMIO latencies, far more
/// than any of those takes.
pub const SMMU_POLLS: u32 = 100_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_budget_is_three_fragments() {
        assert_eq!(MAX_DESCRIPTOR, 8384);
        const { assert!(MAX_DESCRIPTOR <= 3 * MAILBOX_SIZE) };
    }

    #[test]
    fn carveout_matches_the_linker_script() {
        let ld = include_str!("../../boot/image.ld");
        assert!(ld.contains(&format!("__carveout_size = {CARVEOUT_SIZE:#x};")));
    }

    #[test]
    fn stack_size_matches_the_entry_code() {
        let s = include_str!("../../boot/src/entry.S");
        assert!(s.contains(&format!(".equ HYP_STACK_SIZE, {STACK_SIZE:#x}")));
    }
}
